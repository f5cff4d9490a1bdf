"""StyleGAN2 generation speed and agreement across devices (random weights, FFHQ config-f layout).

    .venv/bin/python benchmarks/bench_stylegan2.py                      # CPU, 256 px, 16 images
    .venv/bin/python benchmarks/bench_stylegan2.py --device cuda --resolution 1024 --count 1000

Generates `--count` images from seeds 0.. in batches, reports images/s and seconds per image, then
checks the first `--check` images against a float32 CPU run of the same weights: the largest
absolute difference in [-1, 1] units, for float32 on the device and, on CUDA, for the fp16 blocks
(`--num-fp16-res`, 4 as NVlabs trains FFHQ) that a GPU runs in float16.
"""
from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch

from models.stylegan2 import StyleGAN2Generator, z_from_seed


def latents(seeds: range, z_dim: int, device: str) -> torch.Tensor:
    return torch.from_numpy(np.concatenate([z_from_seed(s, z_dim) for s in seeds])).float().to(device)


@torch.no_grad()
def generate(net: StyleGAN2Generator, seeds: range, batch: int, device: str, fp16: bool | None) -> torch.Tensor:
    out = []
    for start in range(seeds.start, seeds.stop, batch):
        z = latents(range(start, min(start + batch, seeds.stop)), net.z_dim, device)
        out.append(net(z, truncation_psi=0.7, fp16=fp16).cpu())
    return torch.cat(out)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--count", type=int, default=16)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--num-fp16-res", type=int, default=4)
    ap.add_argument("--check", type=int, default=4, help="images compared with the CPU float32 run")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()

    torch.manual_seed(0)
    cpu_net = StyleGAN2Generator(img_resolution=args.resolution, conv_clamp=256,
                                 num_fp16_res=args.num_fp16_res).eval()
    with torch.no_grad():  # noise and w_avg as a trained net has them, so both take part in the check
        for name, p in cpu_net.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.05)
        cpu_net.mapping.w_avg.normal_()
    net = cpu_net if args.device == "cpu" else StyleGAN2Generator(
        img_resolution=args.resolution, conv_clamp=256, num_fp16_res=args.num_fp16_res).eval().to(args.device)
    if net is not cpu_net:
        net.load_state_dict(cpu_net.state_dict())

    generate(net, range(args.batch), args.batch, args.device, None)  # warm-up
    sync(args.device)
    start = time.perf_counter()
    generate(net, range(args.count), args.batch, args.device, None)
    sync(args.device)
    seconds = time.perf_counter() - start

    check = range(min(args.check, args.count))
    reference = generate(cpu_net, check, args.batch, "cpu", False)
    result = {"device": args.device, "gpu": torch.cuda.get_device_name() if args.device.startswith("cuda") else None,
              "cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
              "resolution": args.resolution, "count": args.count, "batch": args.batch,
              "num_fp16_res": args.num_fp16_res, "seconds": round(seconds, 3),
              "images_per_s": round(args.count / seconds, 3), "s_per_image": round(seconds / args.count, 4),
              "max_abs_diff_fp32_vs_cpu": float((generate(net, check, args.batch, args.device, False)
                                                 - reference).abs().max())}
    if args.device.startswith("cuda"):
        result["max_abs_diff_fp16_vs_cpu"] = float((generate(net, check, args.batch, args.device, None)
                                                    - reference).abs().max())
    print(json.dumps(result, indent=1))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=1)


if __name__ == "__main__":
    main()
