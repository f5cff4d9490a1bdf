"""Real expressions as the recognisability benchmark sees edits: a reference for its figures.

How often do the independent classifiers read a real person's posed expression as that expression, and
how much does its probability rise over the same person's neutral face? Those are the figures an edit
is judged by (`recognisability.py`); on real faces they show what a classifier can read at all.

Photos are named `<subject>_neutral[_anything].png` (one per subject) and
`<subject>_<emotion>[_anything].png`. This aligns them as the identity stage does and writes a dataset
whose manifest has the expression stage's columns (each expression's parent is its subject's neutral):

    .venv/bin/python benchmarks/real_expressions.py PHOTOS OUT
    .venv-eval/bin/python benchmarks/recognisability.py OUT

`--ckplus` first fills PHOTOS with the CK+ frames shipped in EmoPy: each sequence's first frame as its
subject's neutral, the apex frames with their emotion. With `--series-labels` a frame is labelled by its
sequence's folder in EmoPy's series directory, which keeps the two sequences the `emopy:` dataset leaves
out (S074_004 and S125_008, filed under anger beside their frames and under disgust in the series
directory; their frames show AU9's wrinkled nose). CK+ is for non-commercial research: never commit them.
"""
from __future__ import annotations

import argparse
import csv
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from components.common.datasets import emotion_name, installed_emopy_images  # noqa: E402
from real_apex import align  # noqa: E402  (the identity stage's folder backend, as for the apex sheet)


def ckplus_photos(photos: Path, series_labels: bool) -> None:
    root = installed_emopy_images()
    series = root / "sample_image_series_directory"
    label_of = {seq.name: emotion_name(folder.name) for folder in series.glob("*") for seq in folder.glob("*")}
    photos.mkdir(parents=True, exist_ok=True)
    for first in sorted(series.glob("*/*/*_00000001.png")):
        subject = first.name.split("_")[0]
        if not (photos / f"{subject}_neutral.png").exists():
            shutil.copy(first, photos / f"{subject}_neutral.png")
    for frame in sorted((root / "sample_image_directory").glob("*/*.png")):
        sequence = "_".join(frame.stem.split("_")[:2])
        label = emotion_name(frame.parent.name)
        if sequence in label_of and label_of[sequence] != label:
            if not series_labels:
                continue  # the two folders disagree: left out, as the `emopy:` dataset does
            label = label_of[sequence]
        shutil.copy(frame, photos / f"{frame.stem.split('_')[0]}_{label}_{frame.stem}.png")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("photos", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--ckplus", action="store_true", help="fill PHOTOS with EmoPy's CK+ frames first")
    ap.add_argument("--series-labels", action="store_true", help="with --ckplus: label by the series directory")
    args = ap.parse_args()
    if args.ckplus:
        ckplus_photos(args.photos, args.series_labels)
    rows = align(args.photos, args.out / "aligned")
    names = {r["id"]: Path(r["source"]).stem.split("_") for r in rows}
    neutral_of = {names[r["id"]][0]: r["id"] for r in rows if names[r["id"]][1:2] == ["neutral"]}
    out = []
    for r in rows:
        subject, emotion = names[r["id"]][0], emotion_name((names[r["id"]] + [""])[1])
        if emotion is None or subject not in neutral_of:
            print(f"{r['source']}: {'no emotion in its name' if emotion is None else f'no neutral photo of {subject}'}; "
                  "left out")
            continue
        out.append({"id": r["id"], "path": f"aligned/{r['path']}", "identity": subject,
                    "parent_id": neutral_of[subject], "target_kind": "emotion", "target_emotion": emotion})
    with open(args.out / "manifest.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(out[0]))
        writer.writeheader()
        writer.writerows(out)
    counts = {e: sum(r["target_emotion"] == e for r in out) for e in sorted({r["target_emotion"] for r in out})}
    print(f"{len(out)} photos of {len(neutral_of)} subjects {counts} -> {args.out / 'manifest.csv'}")


if __name__ == "__main__":
    main()
