"""Training throughput: the train stage's loop against a bare PyTorch loop, same model and batch, side by side.

    .venv/bin/python benchmarks/bench_train_loop.py [--model compact_cnn] [--images 1400] [--device cpu]
        [--augment flip] [--mixup 0]

The stage's loop is `components.train.run.train_one_epoch` over the stage's own loader (shuffled
batches, flip augmentation or --augment's, --mixup, one-cycle schedule, AMP scaler). The bare loop
slices a pre-shuffled tensor into batches of the same size and runs forward, backward and the
optimiser step, nothing else. Both train a fresh copy of the same network from the same seed on the
same random 64 px faces; their epochs alternate (after a warm-up epoch each), and each figure is the
median of its loop's epochs.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from components.train.params import TrainParams  # noqa: E402
from components.train.run import make_loader, model_spec, train_one_epoch  # noqa: E402
from models.fer import build_model  # noqa: E402


def stage_trainer(params: TrainParams, x: np.ndarray, y: np.ndarray, groups: list[str], epochs: int, device):
    """(one epoch of the stage's loop -> images/s, its batch size)."""
    torch.manual_seed(0)
    spec = model_spec(params)
    model = build_model(params.model, 7, spec.channels, spec.size).to(device)
    loader = make_loader(x, y, groups, spec, params)
    optimizer = torch.optim.AdamW(model.parameters(), lr=params.lr, weight_decay=params.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=params.lr, total_steps=epochs * len(loader))
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda")

    def epoch() -> float:
        _, seen, seconds = train_one_epoch(model, loader, optimizer, scheduler, scaler, device, params)
        return seen / seconds
    return epoch, loader.batch_sampler.identities_per_batch * 7 if params.batching == "identity" else params.batch_size


def bare_trainer(params: TrainParams, x: np.ndarray, y: np.ndarray, batch: int, device):
    """One epoch of a bare loop over pre-shuffled tensors -> images/s."""
    torch.manual_seed(0)
    spec = model_spec(params)
    model = build_model(params.model, 7, spec.channels, spec.size).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=params.lr, weight_decay=params.weight_decay)
    xs, ys = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)

    def epoch() -> float:
        model.train()
        order = torch.randperm(len(xs), device=device)
        start = time.perf_counter()
        for i in range(0, len(xs), batch):
            idx = order[i:i + batch]
            loss = F.cross_entropy(model(xs[idx]), ys[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return len(xs) / (time.perf_counter() - start)
    return epoch


def interleaved(stage, bare, epochs: int) -> tuple[list[float], list[float]]:
    """A warm-up epoch of each, then epochs alternating which loop goes first, so that a slow spell of a
    shared machine falls on both loops alike rather than on whichever ran second."""
    stage(), bare()
    stage_rates, bare_rates = [], []
    for i in range(epochs):
        if i % 2:
            bare_rates.append(bare())
            stage_rates.append(stage())
        else:
            stage_rates.append(stage())
            bare_rates.append(bare())
    return stage_rates, bare_rates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="compact_cnn")
    ap.add_argument("--images", type=int, default=1400)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--batch-size", type=int, default=32, help="32 as the demo run")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--augment", default="flip", help="the stage loop's augmentation (the demo's: sharpness)")
    ap.add_argument("--mixup", type=float, default=0.0, help="the stage loop's mixup (the demo's: 0.2)")
    args = ap.parse_args()
    device = torch.device(args.device)
    params = TrainParams(model=args.model, device=args.device, batch_size=args.batch_size, augment=args.augment,
                         mixup=args.mixup)
    rng = np.random.RandomState(0)
    x = rng.rand(args.images, 1, 64, 64).astype(np.float32) * 2 - 1
    y = (np.arange(args.images) % 7).astype(np.int64)
    groups = [f"seed:{i // 7}" for i in range(args.images)]
    stage_epoch, batch = stage_trainer(params, x, y, groups, args.epochs + 1, device)
    stage, bare = interleaved(stage_epoch, bare_trainer(params, x, y, batch, device), args.epochs)
    result = {"model": args.model, "augment": args.augment, "mixup": args.mixup, "device": args.device,
              "threads": torch.get_num_threads(), "batch": batch,
              "stage_images_per_s": round(statistics.median(stage), 1),
              "bare_images_per_s": round(statistics.median(bare), 1)}
    result["stage_over_bare"] = round(result["stage_images_per_s"] / result["bare_images_per_s"], 3)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
