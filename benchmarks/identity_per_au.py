"""Which action units cost the face its identity? Each AU of an editor's prototypes, alone at its weight
there (the highest over the emotions), applied to every neutral face of an identity dataset, and the
dlib descriptor distance of each edit to its source, as `identity_kept.py` measures whole expressions.
Prototypes whose median over all edits nears 0.45 are limited by the AUs at the top of this table.

    .venv/bin/python benchmarks/identity_per_au.py runs/<run>/identity [--editor mesh_warp] [--limit 40]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def strongest_weights(prototypes: dict[str, dict[int, float]]) -> dict[int, float]:
    """Per AU, its highest weight over the emotions' prototypes."""
    weights: dict[int, float] = {}
    for aus in prototypes.values():
        for au, weight in aus.items():
            weights[au] = max(weight, weights.get(au, 0.0))
    return dict(sorted(weights.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path, help="an identity dataset (its crops are the neutral faces)")
    parser.add_argument("--editor", default="mesh_warp", choices=["mesh_warp", "au_warp"])
    parser.add_argument("--limit", type=int, default=40, help="at most this many faces")
    args = parser.parse_args()
    from components.common.face_descriptors import DescriptorExtractor
    from components.common.imageio import read_image
    from components.common.landmarks import LandmarkError, detect_on_aligned
    from components.common.manifest import read_manifest
    from components.expression.editors import EditRejected, make_editor
    from components.expression.params import ExpressionParams
    from components.expression.targets import Target, prototypes_for

    editor, extractor = make_editor(ExpressionParams(editor=args.editor), None), DescriptorExtractor()
    weights = strongest_weights(prototypes_for(args.editor))
    targets = [Target("aus", None, 1.0, {au: weight}) for au, weight in weights.items()]
    distances: dict[int, list[float]] = {au: [] for au in weights}
    for row in read_manifest(args.dataset)[:args.limit]:
        crop = read_image(args.dataset / row["path"])
        try:
            edits = editor.edit_batch([crop] * len(targets), [detect_on_aligned(crop)] * len(targets), targets)
        except (LandmarkError, EditRejected) as exc:
            print(f"skipped {row['path']}: {exc}")
            continue
        neutral = extractor.describe(crop, aligned=True)
        for au, edit in zip(weights, edits):
            distances[au].append(float(np.linalg.norm(extractor.describe(edit.image, aligned=True) - neutral)))
    faces = len(distances[next(iter(weights))])
    if not faces:
        raise SystemExit(f"{args.dataset}: no face the {args.editor} editor could edit")
    print(f"{faces} faces, {args.editor}")
    print(f"{'AU':>4} {'weight':>6} {'median':>7} {'mean':>6}")
    for au, weight in sorted(weights.items(), key=lambda item: -float(np.median(distances[item[0]]))):
        print(f"{au:>4} {weight:>6.2f} {np.median(distances[au]):>7.3f} {np.mean(distances[au]):>6.3f}")

if __name__ == "__main__":
    main()
