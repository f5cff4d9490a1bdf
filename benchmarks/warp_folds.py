"""Where does mesh_warp fold skin over itself?

A piecewise-affine warp folds where a triangle of the moved points is turned over against the same
triangle before the move: the skin there is drawn mirrored, a notch, a drip or a second edge at full
resolution. For every face of an identity dataset and every emotion's prototype (intensity 1), this counts
the warp's turned-over triangles, leaving out slivers (under 0.01 IOD across) and triangles inside the
mouth's opening (painted over), and names the part of the face each lies in.

    .venv/bin/python benchmarks/warp_folds.py IDENTITY_DATASET
"""
from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from components.common.face_mesh import INNER_LOWER_LIP, INNER_UPPER_LIP, OUTER_LOWER_LIP, OUTER_UPPER_LIP  # noqa: E402
from components.common.landmarks import LandmarkError, detect_on_aligned  # noqa: E402
from components.expression.editors import EditRejected  # noqa: E402
from components.expression.mesh_fields import FACE_OVAL  # noqa: E402
from components.expression.mesh_warp import MeshWarpEditor, turned_over  # noqa: E402
from components.expression.targets import prototypes_for  # noqa: E402

INNER_LIPS = set(INNER_UPPER_LIP) | set(INNER_LOWER_LIP)
LIPS = INNER_LIPS | set(OUTER_UPPER_LIP) | set(OUTER_LOWER_LIP)


def folded(src: np.ndarray, dst: np.ndarray, iod: float) -> np.ndarray:
    """(k, 3) point indices of the turned-over triangles, but for those inside the mouth's opening."""
    triangles, turned = turned_over(src, dst, iod)
    return triangles[turned & ~np.isin(triangles, list(INNER_LIPS)).all(1)]


def region(triangle: np.ndarray, mesh: np.ndarray, n_mesh: int) -> str:
    """Which part of the face a triangle lies in: outline (on the face's outline or beyond it), lips, or
    above / below the mouth."""
    points = set(int(i) for i in triangle)
    if any(i >= n_mesh for i in points) or points & set(FACE_OVAL):
        return "outline"
    if points & LIPS:
        return "lips"
    mouth_y = mesh[[61, 291], 1].mean()
    return "below the mouth" if mesh[list(points), 1].mean() > mouth_y else "above the mouth"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path, help="an identity dataset (aligned neutral crops)")
    args = parser.parse_args()
    editor = MeshWarpEditor()
    prototypes = {e: aus for e, aus in prototypes_for(editor.name).items() if aus}
    with open(args.dataset / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    counts = {e: Counter() for e in prototypes}
    faces_with = Counter()
    faces = 0
    for row in rows:
        crop = cv2.imread(str(args.dataset / row["path"]), cv2.IMREAD_COLOR)
        if crop is None:
            print(f"{row['path']}: not a readable image, skipped")
            continue
        crop = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)
        try:
            face = editor.prepare(crop, detect_on_aligned(crop))
        except (EditRejected, LandmarkError) as exc:
            print(f"{row['path']}: {exc}, skipped")
            continue
        faces += 1
        mesh = face.frame.mesh[:, :2]
        for emotion, aus in prototypes.items():
            turned = folded(face.src, face.src + editor.moves(face, aus), face.frame.iod)
            faces_with[emotion] += len(turned) > 0
            counts[emotion].update(region(t, mesh, len(mesh)) for t in turned)
    regions = ("above the mouth", "lips", "below the mouth", "outline")
    print(f"{faces} faces; turned-over triangles per face, by part of the face")
    print(f"{'emotion':<9} {'faces with any':>14} " + " ".join(f"{r:>15}" for r in regions))
    for emotion in prototypes:
        cells = " ".join(f"{counts[emotion][r] / max(faces, 1):>15.2f}" for r in regions)
        print(f"{emotion:<9} {faces_with[emotion]:>14} {cells}")


if __name__ == "__main__":
    main()
