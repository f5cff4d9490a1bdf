"""The annotate stage: label every image from its seed and from the target of its edit.

File names carry the seed (<seed>_<order>.png) and the manifest the edit's target, so
labels follow without looking at pixels (seed-ID annotation, Chalmers thesis 3.10):
- a seed list (what a person saw when reviewing the seed) applies to every image of that seed;
- the edit's target gives the emotion and AU vector;
- an unedited (neutral-target) image of a seed the list calls e.g. 'happy' is labelled 'happy';
- where an edited image's target and its seed list name different emotions, `prefer`
  decides and the disagreement is reported.
Output: images + manifest with the label columns, labels.csv and labels.npy (image name,
emotion, AU presence and intensity), seed_review.html, stage.json.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from components.common.imageio import ImageError, atomic_write_bytes, copy_once, read_image
from components.common.manifest import IMAGES_DIR, read_manifest, write_manifest
from components.common.telemetry import progress
from components.common.facs import EMOTIONS
from components.common.stage_run import StageRun

from .gallery import write_gallery
from .neutral import not_at_rest
from .params import AnnotateParams
from .seedlist import SeedLabel, load_seed_list

STAGE = "annotate"


def label_row(row: dict, seed_label: SeedLabel | None, prefer: str) -> tuple[str | None, dict[int, float], str, str]:
    """(emotion, AU intensities, source, note) for one image."""
    target = row.get("target_emotion") or None
    aus = {int(k): float(v) for k, v in (row.get("target_aus") or {}).items()}
    seed_emotion = seed_label.emotion if seed_label else None
    if seed_label:
        for au, level in seed_label.aus.items():  # the seed's own AUs stay on every image of it
            aus[au] = max(aus.get(au, 0.0), level)
    if seed_emotion and (target is None or target == "neutral"):
        return seed_emotion, aus, "seed_list", "" if target is None else "unedited seed labelled by the seed list"
    if target and seed_emotion and seed_emotion not in (target, "neutral"):
        chosen = target if prefer == "target" else seed_emotion
        return chosen, aus, prefer, f"disagreement: target {target} vs seed list {seed_emotion}"
    if target:
        return target, aus, "target", ""
    return None, aus, "seed_list" if seed_label else "none", "" if seed_label else "no label"


def source_not_neutral(row: dict, limit: float) -> str | None:
    """Why the face an image was edited from (its unedited crop's landmarks) is not neutral, or None.

    A prototype's action units are movements away from a face at rest: the unedited image of a face that
    already smiles or talks is no neutral, and its edits are not the expression they are labelled with.
    A face without landmarks cannot be measured (and a seed on a person's seed list is not asked)."""
    if limit <= 0 or not row.get("landmarks68"):
        return None
    return not_at_rest(row["landmarks68"], limit)


def labels_table(rows: list[dict], au_units: list[int], threshold: float) -> tuple[str, np.ndarray]:
    """CSV text and a structured array: name, emotion, emotion index, AU presence and intensity."""
    header = ["image", "emotion", "emotion_index"] + [f"AU{a}" for a in au_units] + \
        [f"AU{a}_intensity" for a in au_units]
    dtype = [("image", "U64"), ("emotion", "U16"), ("emotion_index", "i4"),
             ("au", "u1", (len(au_units),)), ("au_intensity", "f4", (len(au_units),))]
    table = np.zeros(len(rows), dtype=dtype)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for i, row in enumerate(rows):
        intensities = [float(row["label_aus"].get(str(a), 0.0)) for a in au_units]
        present = [int(v >= threshold and v > 0) for v in intensities]
        emotion = row["label_emotion"] or ""
        index = EMOTIONS.index(emotion) if emotion in EMOTIONS else -1
        name = Path(row["path"]).name
        writer.writerow([name, emotion, index, *present, *[round(v, 4) for v in intensities]])
        table[i] = (name, emotion, index, present, intensities)
    return buf.getvalue(), table


def label_rows(rows_in: list[dict], in_dir: Path, out: Path, seed_labels: dict, params: AnnotateParams,
               telemetry) -> tuple[list[dict], list[str], list[str]]:
    """Label and copy every image whose file is there and whose unedited face is neutral:
    (labelled rows, disagreements, problems)."""
    rows, disagreements, problems = [], [], []
    for row in progress(rows_in, desc=STAGE):
        telemetry.seen()
        src = in_dir / row["path"]
        if not src.is_file():
            telemetry.rejected("missing_file", f"{src}: file missing")
            problems.append(f"{src}: file missing")
            continue
        seed_label = seed_labels.get(row.get("seed"))
        emotion, aus, source, note = label_row(row, seed_label, params.prefer)
        why = None if seed_label else source_not_neutral(row, params.neutral_mouth_limit)
        if why:
            telemetry.rejected("source_not_neutral", f"{src}: the unedited face is not neutral: {why}")
            continue
        copy_once(src, out / IMAGES_DIR / src.name)
        if note.startswith("disagreement"):
            disagreements.append(f"{src.name}: {note}")
        rows.append({**{k: v for k, v in row.items() if k != "reference_path"},
                     "path": f"{IMAGES_DIR}/{src.name}", "label_emotion": emotion,
                     "label_aus": {str(a): round(v, 4) for a, v in sorted(aus.items())},
                     "label_source": source, "label_note": note})
        telemetry.produced()
    return rows, disagreements, problems


def run(params: AnnotateParams, in_dir: str | Path, out_dir: str | Path) -> dict:
    in_dir, out = Path(in_dir), Path(out_dir)
    stage = StageRun(STAGE, params, out)
    telemetry = stage.telemetry
    rows_in = read_manifest(in_dir)
    seed_labels = load_seed_list(params.seed_list) if params.seed_list else {}
    present_seeds = {r.get("seed") for r in rows_in}
    unused = sorted(set(seed_labels) - present_seeds)
    rows, disagreements, problems = label_rows(rows_in, in_dir, out, seed_labels, params, telemetry)
    write_manifest(out, rows)
    csv_text, table = labels_table(rows, params.au_units, params.au_threshold)
    atomic_write_bytes(out / "labels.csv", csv_text.encode("utf-8"))
    buf = io.BytesIO()
    np.save(buf, table, allow_pickle=False)
    atomic_write_bytes(out / "labels.npy", buf.getvalue())
    gallery = None
    if params.gallery_seeds:
        by_seed: dict[int, list[dict]] = {}
        for row in rows:
            by_seed.setdefault(row.get("seed"), []).append(row)
        shown = {}
        for seed in sorted(s for s in by_seed if s is not None)[: params.gallery_seeds]:
            images = []
            for r in by_seed[seed][:4]:
                try:
                    images.append(read_image(out / r["path"]))
                except ImageError as exc:
                    problems.append(str(exc))
            shown[seed] = images
        atomic_write_bytes(out / "seed_review.html", write_gallery(shown, seed_labels, params.au_units).encode())
        gallery = "seed_review.html"
    per_emotion: dict[str, int] = {}
    for row in rows:
        key = row["label_emotion"] or "unlabelled"
        per_emotion[key] = per_emotion.get(key, 0) + 1
    counts = {"images": len(rows), "per_emotion": per_emotion, "disagreements": len(disagreements),
              "seed_list_seeds": len(seed_labels), "seed_list_unused": len(unused),
              "labelled_from_seed_list": sum(r["label_source"] == "seed_list" for r in rows),
              "rejected": dict(telemetry.rejections)}
    stage.finish(counts, disagreements=disagreements[:1000], unused_seeds=unused[:1000], problems=problems[:1000],
                 gallery=gallery)
    if not rows:
        raise RuntimeError(f"{STAGE}: no images to label in {in_dir}")
    return counts
