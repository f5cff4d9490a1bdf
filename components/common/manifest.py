"""The dataset contract: a directory with `images/`, `manifest.csv` and `stage.json`.

The manifest has one row per image. Its columns are declared once, here, with
their type and the stage that owns them. A stage reads the rows of its input,
adds the columns it owns, and writes a new dataset; it never rewrites columns
owned by another stage (`add_columns` refuses).
"""
from __future__ import annotations

import csv
import io
import json
import math
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from .imageio import atomic_write_bytes

MANIFEST_NAME = "manifest.csv"
ANY_STAGE = "*"
STAGE_NAME = "stage.json"
IMAGES_DIR = "images"
FRAMES_DIR = "frames"


@dataclass(frozen=True)
class Column:
    name: str
    type: type  # str, int, float, or list/dict (stored as JSON text)
    owner: str  # the stage that writes it
    doc: str


SCHEMA: tuple[Column, ...] = (
    # Every stage writes its own images, so id and path belong to whichever stage wrote the dataset.
    Column("id", str, ANY_STAGE, "unique image id, also the file stem: <seed>_<order:06d>"),
    Column("path", str, ANY_STAGE, "image path relative to the dataset directory"),
    Column("identity", str, "identity", "identity key shared by every image of one face"),
    Column("seed", int, "identity", "generator seed, or the source file's order for real photos"),
    Column("order", int, "identity", "running number of the image within the run"),
    Column("latent_index", int, "identity", "principal direction moved along (-1: none)"),
    Column("latent_degree", float, "identity", "distance moved along it, in standard deviations"),
    Column("backend", str, "identity", "identity backend that produced the face"),
    Column("source", str, "identity", "provenance: generator weights or the source photo"),
    Column("frame_path", str, "identity", "full frame the crop was aligned from"),
    Column("face_score", float, "identity", "face detector confidence"),
    Column("landmarks", list, "identity", "5 landmarks in frame pixels [[x, y] x5]"),
    Column("align_matrix", list, "identity", "2x3 similarity transform frame -> crop"),
    Column("parent_id", str, "expression", "id of the identity image the expression was put on"),
    Column("target_kind", str, "expression", "emotion | polar | aus"),
    Column("target_emotion", str, "expression", "emotion label of the target (empty for AU-only targets)"),
    Column("target_intensity", float, "expression", "emotion intensity / polar rho / largest AU intensity"),
    Column("target_aus", dict, "expression", "target AU intensities {\"12\": 0.8, ...}"),
    Column("target_side", str, "expression", "unilateral target: the subject's side that moves (left|right); empty: both"),
    Column("target_rho", float, "expression", "polar emotion code: intensity"),
    Column("target_theta", float, "expression", "polar emotion code: angle in degrees"),
    Column("editor", str, "expression", "expression editor that made the image"),
    Column("landmarks68", list, "expression", "68 landmarks of the unedited crop (crop pixels)"),
    Column("edited_landmarks68", list, "expression", "where the editor moved them"),
    Column("reference_path", str, "adapt", "the unedited face at the final geometry (for FR metrics)"),
    Column("align_geometry", dict, "adapt",
           "alignment template of the final image {\"size\": 100, \"padding\": 0.0}: what clients reproduce"),
    Column("q_face", float, "select", "MTCNN confidence of the one face"),
    Column("face_box", list, "select", "that face's box [x0, y0, x1, y1] in image pixels (later stages reuse it)"),
    Column("q_brisque", float, "select", "BRISQUE (lower is better)"),
    Column("q_niqe", float, "select", "NIQE against the run's pristine model (lower is better)"),
    Column("q_psnr", float, "select", "PSNR to the unedited source face, dB"),
    Column("q_ssim", float, "select", "SSIM to the unedited source face"),
    Column("q_rmse", float, "select", "RMSE to the unedited source face"),
    Column("q_sam", float, "select", "spectral angle to the unedited source face, degrees"),
    Column("q_uqi", float, "select", "universal quality index to the unedited source face"),
    Column("q_score", float, "select", "combined selection score (z-score units, higher is better)"),
    Column("select_batch", int, "select", "selection batch the image competed in"),
    Column("privacy_distance", float, "privacy", "face-descriptor distance of the identity to the nearest real face"),
    Column("privacy_flagged", int, "privacy", "1 when that distance is below the privacy threshold"),
    Column("label_emotion", str, "annotate", "the emotion label used for training"),
    Column("label_aus", dict, "annotate", "AU intensities of the label {\"12\": 0.8, ...}"),
    Column("label_source", str, "annotate", "target | seed_list | none: where the label came from"),
    Column("label_note", str, "annotate", "why, when the seed list and the target disagreed"),
)
COLUMNS: dict[str, Column] = {c.name: c for c in SCHEMA}


class ManifestError(ValueError):
    pass


def _encode(value: Any, column: Column) -> str:
    if value is None:
        return ""
    if column.type in (list, dict):
        return json.dumps(value, separators=(",", ":"))
    if column.type is float:
        return repr(float(value))
    return str(value)


def _decode(text: str, column: Column, where: str) -> Any:
    if text == "":
        return None
    try:
        if column.type in (list, dict):
            return json.loads(text)
        if column.type is float:
            return float(text)
        if column.type is int:
            return int(text)
        return text
    except (ValueError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{where}: column {column.name!r} has bad value {text!r} ({exc})") from None


def read_manifest(dataset_dir: str | Path) -> list[dict[str, Any]]:
    """Read and type-check a dataset's manifest rows."""
    path = Path(dataset_dir) / MANIFEST_NAME
    if not path.is_file():
        raise ManifestError(f"{path}: manifest not found (is {dataset_dir} a fersynth dataset?)")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        unknown = [name for name in (reader.fieldnames or []) if name not in COLUMNS]
        if unknown:
            raise ManifestError(f"{path}: unknown columns {unknown}")
        missing = [name for name in ("id", "path") if name not in (reader.fieldnames or [])]
        if missing:
            raise ManifestError(f"{path}: required columns missing {missing}")
        rows = []
        for line, raw in enumerate(reader, start=2):
            rows.append({k: _decode(v or "", COLUMNS[k], f"{path}:{line}") for k, v in raw.items()})
    return rows


def write_manifest(dataset_dir: str | Path, rows: Iterable[dict[str, Any]]) -> Path:
    """Write rows atomically, columns in schema order, values encoded by their declared type."""
    rows = list(rows)
    present = {key for row in rows for key in row}
    unknown = sorted(present - COLUMNS.keys())
    if unknown:
        raise ManifestError(f"columns not in the manifest schema: {unknown}")
    names = [c.name for c in SCHEMA if c.name in present]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(names)
    for row in rows:
        writer.writerow([_encode(row.get(name), COLUMNS[name]) for name in names])
    path = Path(dataset_dir) / MANIFEST_NAME
    atomic_write_bytes(path, buf.getvalue().encode("utf-8"))
    return path


def manifest_digest(dataset_dir: str | Path) -> str:
    """A short fingerprint of a dataset's manifest: a stage's resume journal refuses a changed input."""
    import hashlib

    return hashlib.sha256((Path(dataset_dir) / MANIFEST_NAME).read_bytes()).hexdigest()[:16]


def identity_key(row: dict[str, Any]) -> str:
    """The identity an image shows: the identity column, else its seed, else the image itself."""
    for column in ("identity", "seed"):
        if row.get(column) not in (None, ""):
            return str(row[column])
    return str(row["id"])


def add_columns(rows: list[dict[str, Any]], stage: str, values: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Return rows with new columns owned by `stage`; refuse columns another stage owns."""
    for name, column_values in values.items():
        column = COLUMNS.get(name)
        if column is None:
            raise ManifestError(f"column {name!r} is not in the manifest schema")
        if column.owner not in (stage, ANY_STAGE):
            raise ManifestError(f"stage {stage!r} may not write column {name!r} (owned by {column.owner!r})")
        if len(column_values) != len(rows):
            raise ManifestError(f"column {name!r}: {len(column_values)} values for {len(rows)} rows")
    return [{**row, **{name: vals[i] for name, vals in values.items()}} for i, row in enumerate(rows)]


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_stage_info(dataset_dir: str | Path, stage: str, params: dict, counts: dict, timings: dict,
                     extra: dict | None = None) -> Path:
    """Write stage.json: what ran, with which parameters and versions, and what came of it."""
    from importlib import metadata

    versions = {}
    for package in ("fersynth", "torch", "numpy", "opencv-python-headless", "facenet-pytorch"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    info = {
        "stage": stage,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "params": params,
        "counts": counts,
        "timings_s": timings,
        "versions": {"python": platform.python_version(), **versions},
        **(extra or {}),
    }
    path = Path(dataset_dir) / STAGE_NAME
    atomic_write_bytes(path, json.dumps(_json_safe(info), indent=2, sort_keys=True).encode("utf-8"))
    return path


def read_stage_info(dataset_dir: str | Path) -> dict:
    path = Path(dataset_dir) / STAGE_NAME
    if not path.is_file():
        raise ManifestError(f"{path}: stage.json not found")
    return json.loads(path.read_text(encoding="utf-8"))
