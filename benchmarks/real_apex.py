"""Each editor's edit beside the real expression of the same person.

The CK+ sequences shipped in EmoPy (`emopy:`) hold a subject's neutral first frame and apex frames of
an emotion. For every apex frame this sheet shows, in one row: the subject's neutral face, each
editor's edit of that face to the apex's emotion, and the real apex, all aligned alike (the identity
stage's folder backend). It is a test of realism by eye: how a rendering differs from the real
expression (eye aperture, forehead, mouth shape), not a score to tune on. `emopy:` is also a real test
set of the train stage's models, so these faces never become training data.

    .venv/bin/python benchmarks/real_apex.py /tmp/apex [--editors mesh_warp au_warp] [--intensity 1]

writes /tmp/apex/apex_sheet.png (third-party photos: never commit it; CK+ is for non-commercial research).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from components.common.datasets import load_dataset  # noqa: E402
from components.common.imageio import write_image  # noqa: E402
from components.common.manifest import read_manifest  # noqa: E402
from components.expression.params import ExpressionParams  # noqa: E402
from components.expression.run import run as expression  # noqa: E402
from components.identity.params import IdentityParams  # noqa: E402
from components.identity.run import run as identity  # noqa: E402

TILE = 256


def write_photos(out: Path) -> tuple[Path, Path]:
    """CK+ neutral frames (one per subject) and apex frames (named emotion_subject_frame) as photo folders."""
    neutral_dir, apex_dir = out / "photos-neutral", out / "photos-apex"
    for folder in (neutral_dir, apex_dir):
        folder.mkdir(parents=True, exist_ok=True)
    for sample in load_dataset("emopy:").samples:
        if not sample.group.startswith("ck+:"):
            continue
        subject = sample.group.split(":")[1]
        if sample.label == "neutral":
            write_image(neutral_dir / f"{subject}.png", sample.image())
        else:
            write_image(apex_dir / f"{sample.label}_{subject}_{sample.path.stem}.png", sample.image())
    return neutral_dir, apex_dir


def align(photos: Path, out: Path) -> list[dict]:
    identity(IdentityParams(backend="folder", source=str(photos), frame_size=640, crop_size=TILE, preview_seeds=0), out)
    return read_manifest(out)


def tile(path: Path, caption: str) -> np.ndarray:
    image = cv2.resize(cv2.imread(str(path)), (TILE, TILE), interpolation=cv2.INTER_AREA)
    cv2.putText(image, caption, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(image, caption, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
    return image


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--editors", nargs="+", default=["mesh_warp", "au_warp"])
    ap.add_argument("--intensity", type=float, default=1.0)
    args = ap.parse_args()
    neutral_photos, apex_photos = write_photos(args.out)
    apexes = align(apex_photos, args.out / "apex")
    subject_of = {row["source"]: row["source"].split("_")[1] for row in apexes}
    emotions = sorted({row["source"].split("_")[0] for row in apexes})
    neutral = {row["source"].removesuffix(".png"): row for row in align(neutral_photos, args.out / "neutral")}
    edits = {}
    for editor in args.editors:
        params = ExpressionParams(editor=editor, emotions=["neutral", *emotions], intensity_min=args.intensity,
                                  intensity_max=args.intensity, sheet_identities=0)
        expression(params, args.out / "neutral", args.out / f"edits-{editor}")
        for row in read_manifest(args.out / f"edits-{editor}"):
            edits[(editor, row["source"].removesuffix(".png"), row["target_emotion"])] = row
    rows = []
    for apex in sorted(apexes, key=lambda r: r["source"]):
        emotion, subject = apex["source"].split("_")[0], subject_of[apex["source"]]
        if subject not in neutral:
            continue
        line = [tile(args.out / "neutral" / neutral[subject]["path"], f"{subject} neutral")]
        for editor in args.editors:
            edit = edits.get((editor, subject, emotion))
            line.append(tile(args.out / f"edits-{editor}" / edit["path"], f"{editor} {emotion}") if edit
                        else np.zeros((TILE, TILE, 3), np.uint8))  # the editor refused this face
        line.append(tile(args.out / "apex" / apex["path"], f"real {emotion}"))
        rows.append(np.hstack(line))
    sheet = args.out / "apex_sheet.png"
    cv2.imwrite(str(sheet), np.vstack(rows))
    print(f"{len(rows)} apex frames of {len({subject_of[a['source']] for a in apexes})} subjects -> {sheet}")


if __name__ == "__main__":
    main()
