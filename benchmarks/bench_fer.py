"""FER model speed: training images/s, inference latency at batch 1 and throughput at batch 64,
in torch and in onnxruntime, for the simple CNN (64 grey) and ResNet-18 (112 RGB). CPU by default.

    .venv/bin/python benchmarks/bench_fer.py [--device cuda] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F
from timing import median_seconds




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json")
    args = parser.parse_args()
    import onnxruntime as ort

    from components.export.run import export_onnx
    from components.common.fer_preprocess import DEFAULT_SPECS
    from models.fer import build_model

    device = torch.device(args.device)
    results = {}
    for name in ("simple_cnn", "resnet18"):
        spec = DEFAULT_SPECS[name]
        torch.manual_seed(0)
        model = build_model(name, 7, spec.channels, spec.size).to(device)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        x = torch.randn(64, spec.channels, spec.size, spec.size, device=device)
        y = torch.randint(7, (64,), device=device)

        def step():
            model.train()
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if device.type == "cuda":
                torch.cuda.synchronize()

        train_rate = 64 / median_seconds(step, 5)
        model.eval()
        with torch.no_grad():
            one, batch = x[:1], x
            torch_b1 = median_seconds(lambda: model(one), 50) * 1000
            torch_b64 = 64 / median_seconds(lambda: model(batch), 10)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "m.onnx"
            export_onnx(model.cpu(), spec, path, 17, {})
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            one_np, batch_np = one.cpu().numpy(), batch.cpu().numpy()
            ort_b1 = median_seconds(lambda: session.run(None, {"input": one_np}), 50) * 1000
            ort_b64 = 64 / median_seconds(lambda: session.run(None, {"input": batch_np}), 10)
        results[name] = {"train_images_per_s": train_rate, "torch_batch1_ms": torch_b1,
                         "torch_batch64_images_per_s": torch_b64, "onnxruntime_batch1_ms": ort_b1,
                         "onnxruntime_batch64_images_per_s": ort_b64}
    print(json.dumps({"device": args.device, "threads": torch.get_num_threads()}))
    for name, r in results.items():
        print(name, " ".join(f"{k}={v:.2f}" for k, v in r.items()))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
