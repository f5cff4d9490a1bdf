"""Identity-stage speed: dcgan64 and StyleGAN2 (256 px, random weights) generation, MTCNN
detection, and the whole dcgan64 stage (generate + detect + align + write) per second.

    .venv/bin/python benchmarks/bench_identity.py [--device cuda] [--json out.json]

Medians of several timed repeats after a warm-up; CUDA timings synchronise the device.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time

import torch


def timed(fn, repeats: int, device: str) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@torch.no_grad()
def bench_dcgan(device: str, batch: int, repeats: int) -> dict:
    from models.dcgan import load_dcgan

    net = load_dcgan(device=device)
    z = torch.randn(batch, net.z_dim, device=device)
    seconds = timed(lambda: net(z), repeats, device)
    return {"what": "dcgan64 generate (64 px)", "batch": batch, "images_per_s": batch / seconds}


@torch.no_grad()
def bench_stylegan2(device: str, batch: int, repeats: int) -> dict:
    from models.stylegan2 import StyleGAN2Generator

    torch.manual_seed(0)
    net = StyleGAN2Generator(img_resolution=256).eval().to(device)
    z = torch.randn(batch, net.z_dim, device=device)
    seconds = timed(lambda: net(z), repeats, device)
    return {"what": "stylegan2 generate (256 px, random weights)", "batch": batch, "images_per_s": batch / seconds}


def bench_mtcnn(device: str, batch: int, repeats: int, size: int) -> dict:
    import cv2
    from skimage import data

    from components.common.faces import FaceDetector

    detector = FaceDetector(device=device)
    frame = cv2.resize(data.astronaut(), (size, size), interpolation=cv2.INTER_AREA)
    frames = [frame] * batch
    seconds = timed(lambda: detector.detect(frames), repeats, device)
    return {"what": f"MTCNN detect ({size} px, one face)", "batch": batch, "images_per_s": batch / seconds}


def bench_stage(device: str, count: int) -> dict:
    from components.identity.params import IdentityParams
    from components.identity.run import run

    with tempfile.TemporaryDirectory() as out:
        params = IdentityParams(count=count, preview_seeds=0, device=device)
        start = time.perf_counter()
        counts = run(params, out)
        seconds = time.perf_counter() - start
    return {"what": "identity stage dcgan64 (generate+detect+align+write, 256 px frames, 128 px crops)",
            "batch": params.batch_size, "images_per_s": count / seconds, "identities": counts["identities"],
            "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--stage-count", type=int, default=256)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    os.environ.setdefault("FERSYNTH_NO_PROGRESS", "1")
    dev = args.device
    results = [
        bench_dcgan(dev, 64, args.repeats),
        bench_stylegan2(dev, 1, args.repeats),
        bench_stylegan2(dev, 8, max(2, args.repeats // 2)),
        bench_mtcnn(dev, 1, args.repeats, 256),
        bench_mtcnn(dev, 32, max(2, args.repeats // 2), 256),
        bench_mtcnn(dev, 1, args.repeats, 512),
        bench_stage(dev, args.stage_count),
    ]
    header = {"device": dev, "torch": torch.__version__, "threads": torch.get_num_threads(),
              "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
              "gpu": torch.cuda.get_device_name(0) if dev.startswith("cuda") else None}
    print(json.dumps(header))
    print(f"{'benchmark':<88} {'batch':>5} {'img/s':>9}")
    for r in results:
        print(f"{r['what']:<88} {r['batch']:>5} {r['images_per_s']:>9.1f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"env": header, "results": results}, fh, indent=2)


if __name__ == "__main__":
    main()
