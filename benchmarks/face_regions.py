"""Which part of the face carries each classifier's read of an expression?

For every face of one emotion in a dataset (an expression stage's output, or real expressions from
`real_expressions.py`), the independent classifiers of `recognisability.py` score:
- the face as it is, and the same identity's neutral face;
- the face with one band (brows and eyes, nose, mouth) put back to the neutral face: what the read loses
  without that band;
- the neutral face with only that band from the expression: what that band alone carries.
It prints each classifier's mean probability of the emotion and of `--against` (the class it is most
often mistaken for). The bands are fixed fractions of the aligned crop: the identity stage places every
face's eyes at the same height, so the brows and eyes, the nose and the mouth fall in the same rows.

With `--real REAL`, a real-expression dataset aligned from the same neutral photos as the edits (for
example `real_expressions.py --ckplus` beside `benchmarks/real_faces.py`), it also scores hybrids: each
real expression with one band taken from our edit of the same person's neutral photo ("real + our upper"),
and our edit with one band from the real expression ("ours + real upper"). A band of ours that keeps the
real read is as good as the real one, to these classifiers; subjects whose neutral crops differ (aligned
differently) are left out and named.

    .venv-eval/bin/python benchmarks/face_regions.py EDITS disgust --against anger [--real REAL]
"""
from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from recognisability import LABELS, Fer2013BigXception, Fer2013MiniXception, FacexMobileNet

# Rows of the aligned crop, as fractions of its height (columns: 0.12-0.88 of its width).
BANDS = {"upper": (0.30, 0.56), "nose": (0.56, 0.72), "mouth": (0.72, 0.96)}
BAND_COLUMNS = (0.12, 0.88)
FEATHER = 0.02  # of the crop's height: bands blend into the rest without an edge for the classifiers to see


def band_mask(shape: tuple[int, int], band: str) -> np.ndarray:
    h, w = shape
    (y0, y1), (x0, x1) = BANDS[band], BAND_COLUMNS
    mask = np.zeros((h, w), np.float32)
    mask[int(y0 * h):int(y1 * h), int(x0 * w):int(x1 * w)] = 1.0
    return cv2.GaussianBlur(mask, (0, 0), FEATHER * h)


def with_band(base: np.ndarray, donor: np.ndarray, band: str) -> np.ndarray:
    """`base` with one band from `donor` (same size, grey float)."""
    mask = band_mask(base.shape, band)
    return base * (1.0 - mask) + donor * mask


def band_swaps(first: np.ndarray, second: np.ndarray, names: tuple[str, str, str, str]) -> dict[str, np.ndarray]:
    """Both faces, and per band each with that band from the other. `names`: the first, the second, the
    first with the second's band and the second with the first's (the last two formats of `{band}`)."""
    first_name, second_name, first_with, second_with = names
    out = {first_name: first, second_name: second}
    for band in BANDS:
        out[first_with.format(band=band)] = with_band(first, second, band)
        out[second_with.format(band=band)] = with_band(second, first, band)
    return out


# The face without each band (back to neutral) and the neutral face with only that band.
WITHOUT_AND_ONLY = ("face", "neutral", "-{band}", "only {band}")
HYBRIDS = ("real", "ours", "real + our {band}", "ours + real {band}")


def _grey(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise SystemExit(f"{path}: not a readable image")
    return image.astype(np.float32)


def _rows(dataset: Path) -> list[dict]:
    with open(dataset / "manifest.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def expression_pairs(dataset: Path, emotion: str) -> list[tuple[dict, np.ndarray, np.ndarray]]:
    """(row, face, its identity's neutral face) for every face of `emotion`."""
    rows = _rows(dataset)
    neutral = {r["parent_id"]: r for r in rows if r.get("target_emotion") == "neutral"}
    pairs = []
    for r in rows:
        if r.get("target_emotion") == emotion and r["parent_id"] in neutral:
            face = _grey(dataset / r["path"])
            pairs.append((r, face, cv2.resize(_grey(dataset / neutral[r["parent_id"]]["path"]), face.shape[::-1])))
    return pairs


def subject_of(identity: str) -> str:
    """The subject a photo's identity names: `photo-ckplus_S074.png` -> `S074` (real_faces.py's names)."""
    return Path(identity).stem.split("_")[-1]


def paired_with_real(edits: Path, real: Path, emotion: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """(real expression, our edit of the same subject's neutral photo) for every real expression whose
    neutral crop is the one our edit started from."""
    ours = {subject_of(r["identity"]): (face, neutral) for r, face, neutral in expression_pairs(edits, emotion)}
    pairs, misaligned = [], set()
    for r, face, neutral in expression_pairs(real, emotion):
        subject = r["identity"]
        if subject not in ours:
            continue
        our_face, our_neutral = ours[subject]
        if our_neutral.shape != neutral.shape or float(np.abs(our_neutral - neutral).mean()) > 1.0:
            misaligned.add(subject)
            continue
        pairs.append((face, our_face))
    if misaligned:
        print("left out, neutral crops differ:", ", ".join(sorted(misaligned)))
    return pairs


def mean_probs(images: list[dict[str, np.ndarray]], classifiers, labels: tuple[int, int]) -> dict:
    """{variant: {classifier: (mean p(emotion), mean p(against))}}."""
    sums: dict = defaultdict(lambda: defaultdict(list))
    for variants in images:
        for name, image in variants.items():
            grey = np.clip(image + 0.5, 0, 255).astype(np.uint8)
            for c in classifiers:
                p = c.probs(grey)
                sums[name][c.name].append((p[labels[0]], p[labels[1]]))
    return {name: {c: tuple(np.mean(v, 0)) for c, v in per.items()} for name, per in sums.items()}


def print_table(title: str, table: dict, names: list[str], emotion: str, against: str) -> None:
    print(title)
    print(f"  {'':<18}" + "".join(f"{n + ' ' + emotion[:3]:>11}{n + ' ' + against[:3]:>11}" for n in names))
    for variant, per in table.items():
        print(f"  {variant:<18}" + "".join(f"{per[n][0]:>11.3f}{per[n][1]:>11.3f}" for n in names))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("emotion", choices=[label for label in LABELS if label != "neutral"])
    parser.add_argument("--against", choices=LABELS, default="neutral")
    parser.add_argument("--real", type=Path, help="real expressions aligned from the same neutral photos")
    args = parser.parse_args()
    classifiers = [Fer2013MiniXception(), FacexMobileNet(), Fer2013BigXception()]
    names = [c.name for c in classifiers]
    labels = (LABELS.index(args.emotion), LABELS.index(args.against))
    pairs = expression_pairs(args.dataset, args.emotion)
    if not pairs:
        raise SystemExit(f"{args.dataset}: no {args.emotion} face with its identity's neutral face")
    table = mean_probs([band_swaps(face, neutral, WITHOUT_AND_ONLY) for _, face, neutral in pairs], classifiers, labels)
    print_table(f"{args.dataset}: {len(pairs)} {args.emotion} faces", table, names, args.emotion, args.against)
    if args.real:
        real_pairs = paired_with_real(args.dataset, args.real, args.emotion)
        if real_pairs:
            table = mean_probs([band_swaps(real, ours, HYBRIDS) for real, ours in real_pairs], classifiers, labels)
            print_table(f"{args.real}: {len(real_pairs)} real {args.emotion} faces beside our edits", table, names,
                        args.emotion, args.against)


if __name__ == "__main__":
    main()
