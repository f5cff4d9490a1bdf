"""Selection metrics speed on 100x100 faces (the adapt stage's default output):
BRISQUE (ours, batched, vs the `brisque` package per image), NIQE, the five FR metrics,
MTCNN face check and Inception features for FID.

    .venv/bin/python benchmarks/bench_select.py [--images DIR_OF_PNGS] [--device cuda] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import cv2
import numpy as np
import torch
from timing import rate




def sample_faces(directory: str | None, count: int) -> list[np.ndarray]:
    if directory:
        paths = sorted(Path(directory).glob("*.png"))[:count]
        return [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths]
    from skimage import data

    base = data.astronaut()[40:300, 120:340]
    rng = np.random.RandomState(0)
    return [cv2.resize(np.roll(base, (rng.randint(-15, 15), rng.randint(-15, 15)), (0, 1)), (100, 100))
            for _ in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", help="folder of face PNGs (default: shifted astronaut crops)")
    parser.add_argument("--count", type=int, default=512)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--json")
    args = parser.parse_args()
    warnings.simplefilter("ignore", DeprecationWarning)
    from brisque import BRISQUE

    from components.common.faces import FaceDetector
    from components.select import brisque
    from components.select.fid import InceptionFeatures
    from components.select.fr_metrics import all_metrics
    from components.select.niqe import fit_pristine, niqe

    faces = sample_faces(args.images, args.count)
    reference = BRISQUE(url=False)
    ours = rate(lambda: brisque.scores(faces), len(faces))
    theirs = rate(lambda: [reference.score(f) for f in faces[:64]], 64, 1)
    model = fit_pristine(faces[:64])
    detector = FaceDetector(device=args.device)
    net = InceptionFeatures(device=args.device)
    torchscript = InceptionFeatures(device=args.device, runtime="torchscript")
    agreement = float(abs(net(faces[:8]) - torchscript(faces[:8])).max())
    results = {
        "brisque_ours_per_s": ours,
        "brisque_reference_package_per_s": theirs,
        "brisque_speedup": ours / theirs,
        "niqe_per_s": rate(lambda: [niqe(f, model) for f in faces[:128]], 128),
        "fr_metrics_all_five_per_s": rate(lambda: [all_metrics(f, faces[0]) for f in faces[:128]], 128),
        "mtcnn_face_check_per_s": rate(lambda: detector.detect(faces[:64]), 64, 1),
        f"inception_features_{net.runtime}_per_s": rate(lambda: net(faces[:32]), 32, 1),
        "inception_features_torchscript_per_s": rate(lambda: torchscript(faces[:32]), 32, 1),
        "inception_max_feature_difference": agreement,
    }
    print(json.dumps({"device": args.device, "threads": torch.get_num_threads(), "images": len(faces),
                      "size": list(faces[0].shape)}))
    for name, value in results.items():
        print(f"{name:<40} {value:10.1f}" if value >= 0.1 else f"{name:<40} {value:10.1e}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
