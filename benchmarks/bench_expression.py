"""Expression and adapt speed: au_warp edits/s at 128 px, ganmut inference at 128 px (full-size
network, random weights: speed does not depend on training), and colour + alpha adaptations/s.

    .venv/bin/python benchmarks/bench_expression.py [--device cuda] [--json out.json]
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import torch
from timing import rate




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--json")
    args = parser.parse_args()
    from skimage import data

    from components.adapt.blend import face_region, feathered_alpha, lab_transfer, paste_back
    from components.common.faces import FaceDetector, align, paste_matrix
    from components.common.landmarks import detect_on_aligned
    from components.expression.au_warp import AUWarpEditor
    from components.expression.targets import emotion_target
    from models.ganmut import GANmutGenerator

    frame = data.astronaut()
    (faces,) = FaceDetector().detect([frame])
    aligned = align(frame, faces[0].landmarks, 128)
    crop, lm = aligned.crop, detect_on_aligned(aligned.crop)
    editor = AUWarpEditor()
    targets = [emotion_target(e, 1.0).aus for e in ("happy", "sad", "surprise", "fear", "disgust", "anger")]
    results = {
        "landmarks68_per_s": rate(lambda: detect_on_aligned(crop), 1, 20),
        "au_warp_edits_per_s": rate(lambda: [editor.edit(crop, lm, t) for t in targets], len(targets)),
        "au_warp_geometry_only_per_s": rate(
            lambda: [AUWarpEditor(appearance=False).edit(crop, lm, t) for t in targets], len(targets)),
    }
    torch.manual_seed(0)
    gen = GANmutGenerator(["happy", "sad", "surprise", "fear", "disgust", "anger"]).eval().to(args.device)
    for batch in (1, 16):
        x = torch.randn(batch, 3, 128, 128, device=args.device)
        code = torch.randn(batch, 2, device=args.device)

        def infer():
            with torch.no_grad():
                gen(x, code)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()

        results[f"ganmut_128_batch{batch}_per_s"] = rate(infer, batch, 3)
    edited = editor.edit(crop, lm, targets[0])
    region = face_region(np.vstack([lm]), 128)
    to_frame = paste_matrix(aligned.matrix)

    def adapt():
        out = lab_transfer(edited.image, crop, region)
        paste_back(frame, out, feathered_alpha(region, 10), to_frame)

    results["colour_alpha_adapt_per_s (128 crop -> 512 frame)"] = rate(adapt, 1, 20)
    print(json.dumps({"device": args.device, "threads": torch.get_num_threads()}))
    for name, value in results.items():
        print(f"{name:<55} {value:9.1f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
