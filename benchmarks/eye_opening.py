"""How much white a raised upper lid shows above the iris: real CK+ surprise apexes against mesh_warp's edits.

The real apex frames of EmoPy's CK+ sequences (`emopy:`) are measured on MediaPipe's mesh; our edits are
measured on the editor's own moved mesh over the still iris (what `keep_eyeballs` paints), for every CK+
subject's neutral frame. In iris radii: negative where the lid covers the iris's top, the band of white above
it where positive (`mesh_eyes.sclera_show`). It is a check of geometry against real faces, not a score to tune.

It also prints, per edited emotion, the height of the lash band (from the upper lid's margin to the next ring
of points, `mesh_eyes.LASH_RINGS`) against the neutral face's, median along both rings: above 1, the lashes in
it are drawn longer.

    .venv/bin/python benchmarks/eye_opening.py /tmp/eyes [--emotions surprise fear]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from real_apex import align, write_photos  # noqa: E402

from components.common.face_mesh import MeshError, detect_mesh  # noqa: E402
from components.common.landmarks import detect_on_aligned  # noqa: E402
from components.expression.editors import EditRejected  # noqa: E402
from components.expression.mesh_eyes import EYES, LASH_RINGS, lid_height_at, sclera_show  # noqa: E402
from components.expression.mesh_warp import MeshWarpEditor  # noqa: E402
from components.expression.targets import emotion_target  # noqa: E402


def read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def shows(mesh: np.ndarray, moved: np.ndarray) -> list[float]:
    return [sclera_show(mesh[:, :2], moved, eye) for eye in EYES]


def lash_band(mesh: np.ndarray, moved: np.ndarray) -> float:
    """The lash band's height after the move over its height before, median along both upper lids' rings."""
    def heights(points: np.ndarray) -> np.ndarray:
        return np.concatenate([lid_height_at(points[list(upper)], points[list(ring), 0]) - points[list(ring), 1]
                               for (upper, _, _), ring in zip(EYES, LASH_RINGS)])
    return float(np.median(heights(moved) / heights(mesh[:, :2])))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--emotions", nargs="+", default=["surprise", "fear"])
    args = ap.parse_args()
    neutral_photos, apex_photos = write_photos(args.out)
    print("real apexes (MediaPipe's mesh):")
    for row in sorted(align(apex_photos, args.out / "apex"), key=lambda r: r["source"]):
        if row["source"].split("_")[0] not in args.emotions:
            continue
        try:
            mesh = detect_mesh(read_rgb(args.out / "apex" / row["path"]))
        except MeshError:
            continue
        print(f"  {row['source'][:-4]:40s}", " ".join(f"{v:+.2f}" for v in shows(mesh, mesh[:, :2])))
    editor = MeshWarpEditor()
    print("mesh_warp at intensity 1 (its moved mesh over the still iris): neutral, " + ", ".join(args.emotions))
    per_emotion: dict[str, list[float]] = {e: [] for e in ["neutral", *args.emotions]}
    bands: dict[str, list[float]] = {e: [] for e in args.emotions}
    for row in align(neutral_photos, args.out / "neutral"):
        crop = read_rgb(args.out / "neutral" / row["path"])
        try:
            face = editor.prepare(crop, detect_on_aligned(crop))
        except (EditRejected, ValueError):
            continue
        mesh = face.frame.mesh
        line = {"neutral": shows(mesh, mesh[:, :2])}
        for emotion in args.emotions:
            moves = editor.moves(face, emotion_target(emotion, 1.0).aus)
            line[emotion] = shows(mesh, mesh[:, :2] + moves[:len(mesh)])
            bands[emotion].append(lash_band(mesh, mesh[:, :2] + moves[:len(mesh)]))
        for emotion, values in line.items():
            per_emotion[emotion].extend(values)
        print(f"  {row['source'][:-4]:40s}", "   ".join(" ".join(f"{v:+.2f}" for v in vs) for vs in line.values()))
    print("median:", ", ".join(f"{e} {np.median(v):+.2f}" for e, v in per_emotion.items() if v))
    print("lash band height against neutral:", ", ".join(f"{e} {min(v):.2f}-{max(v):.2f} (median {np.median(v):.2f})"
                                                         for e, v in bands.items() if v))


if __name__ == "__main__":
    main()
