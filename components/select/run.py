"""The select stage (Training Data Selection): keep only images good enough to train on.

Phase 1, face check: exactly one MTCNN face above the confidence, its 5 landmarks inside
the image, not grey, no strong colour cast. Phase 2, quality: BRISQUE, NIQE (pristine
model fitted on the reference images), and PSNR/SSIM/RMSE/SAM/UQI against the unedited
source face. Phase 3: thresholds, then per batch a class-balanced top-k by a combined
z-score. Set level: FID/KID of input and kept images against the references, and per
emotion. Output: kept images + manifest (with the quality columns), selection.csv (every
image, kept or not, with the reason), report.html with plots, stage.json.
"""
from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from components.common import storage
from components.common.faces import FaceDetector
from components.common.imageio import ImageError, atomic_write_bytes, copy_once, decode_image, read_image
from components.common.journal import Journal
from components.common.manifest import (IMAGES_DIR, identity_key, manifest_digest, read_manifest, write_manifest)
from components.common.telemetry import progress
from components.common.shards import Shard
from components.common.stage_run import StageRun

from . import brisque
from .fid import InceptionFeatures, set_distance
from .fr_metrics import all_metrics
from .niqe import PristineModel, fit_pristine, niqe
from .params import SelectParams
from .report import write_report
from .selection import balanced_top_k, combined_scores, threshold_reason, whole_identities_top_k

STAGE = "select"
CHUNK = 64  # images read, checked and scored together


def colour_problem(image: np.ndarray, params: SelectParams) -> str | None:
    """'grey' for images without colour (Hasler-Suesstrunk colourfulness), 'colour_cast' for tinted ones."""
    if image.ndim == 2:
        return "grey"
    rgb = image.astype(np.float64)
    rg, yb = rgb[..., 0] - rgb[..., 1], 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    colourfulness = np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())
    if colourfulness < params.min_colourfulness:
        return "grey"
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float64) - 128.0  # 8-bit LAB: a, b offset by 128
    if max(abs(lab[..., 1].mean()), abs(lab[..., 2].mean())) > params.max_colour_cast:
        return "colour_cast"
    return None


def face_problem(image: np.ndarray, faces: list) -> str | None:
    if not faces:
        return "no_face"
    if len(faces) > 1:
        return "several_faces"
    h, w = image.shape[:2]
    lm = faces[0].landmarks
    if (lm < 0).any() or (lm[:, 0] >= w).any() or (lm[:, 1] >= h).any():
        return "landmarks_outside"
    return None


def load_reference_images(params: SelectParams, in_dir: Path) -> tuple[list[np.ndarray], str]:
    source = params.reference or str(in_dir / "references")
    images = []
    for name in storage.list_files(source):
        if name.startswith(".") or not name.lower().endswith((".png", ".jpg", ".jpeg", ".bmp", ".webp")):
            continue
        try:
            images.append(decode_image(storage.read_bytes(storage.parse_uri(source).child(name)), name))
        except (ImageError, storage.StorageError):
            continue
    if len(images) < 2:
        raise ValueError(f"{source}: need at least 2 readable reference images for NIQE/FID, found {len(images)}")
    label = source if params.reference else f"{source} (the unedited source faces; no real reference given)"
    return images, label


def _pristine(images: list[np.ndarray], patch: int, out: Path) -> PristineModel:
    path = out / "niqe_pristine.npz"
    if path.exists():
        return PristineModel.load(path)
    model = fit_pristine(images, patch)
    buf = io.BytesIO()
    model.save(buf)
    atomic_write_bytes(path, buf.getvalue())
    return model


def _score_chunk(rows, in_dir, params, detector, pristine, journal, telemetry) -> None:
    images, kept_rows = [], []
    for row in rows:
        try:
            images.append(read_image(in_dir / row["path"]))
            kept_rows.append(row)
        except ImageError as exc:
            telemetry.rejected("unreadable", str(exc))
            journal.record_rejected(row["id"], "unreadable", str(exc))
    with telemetry.timed("face_check"):
        detections = detector.detect(images) if images else []
    passing = []
    for row, image, faces in zip(kept_rows, images, detections):
        reason = face_problem(image, faces) or colour_problem(image, params)
        if reason:
            detail = f"{in_dir / row['path']}: {reason.replace('_', ' ')}"
            telemetry.rejected(reason, detail)
            journal.record_rejected(row["id"], reason, detail)
        else:
            passing.append((row, image, faces[0]))
    if not passing:
        return
    with telemetry.timed("brisque"):
        brisque_scores = brisque.scores([image for _, image, _ in passing])
    for (row, image, face), b in zip(passing, brisque_scores):
        metrics = {"face": face.score, "face_box": [round(float(v), 2) for v in face.box], "brisque": float(b)}
        with telemetry.timed("niqe"):
            metrics["niqe"] = niqe(image, pristine)
        if row.get("reference_path"):
            with telemetry.timed("fr_metrics"):
                reference = read_image(in_dir / row["reference_path"])
                if image.ndim == 3 and reference.ndim == 3 and image.shape == reference.shape:
                    metrics.update(all_metrics(image, reference))
        journal.record_ok(row["id"], metrics)


def _distances(in_dir, rows_in, kept_rows, reference_images, params, telemetry) -> dict:
    """FID/KID of the input, the kept images and each kept emotion against the references.

    Inception is slow on a CPU, so each set is capped at `fid_images`; the sets are drawn from one
    random order of the input, which makes them overlap and each image's features are computed once."""
    if not params.fid:
        return {}
    net = InceptionFeatures(device=params.device)
    rng = np.random.RandomState(params.seed)
    order = [rows_in[i] for i in rng.permutation(len(rows_in))]
    kept_ids = {r["id"] for r in kept_rows}
    cache: dict[str, np.ndarray] = {}

    def features(rows: list[dict]) -> np.ndarray:
        missing = [r for r in rows if r["id"] not in cache]
        for r, f in zip(missing, net([read_image(in_dir / r["path"]) for r in missing]) if missing else []):
            cache[r["id"]] = f
        return np.stack([cache[r["id"]] for r in rows])

    with telemetry.timed("fid"):
        refs = [reference_images[i] for i in sorted(rng.choice(len(reference_images),
                                                                min(len(reference_images), params.fid_images),
                                                                replace=False))]
        ref_feats = net(refs)
        cap = params.fid_images
        kept_sample = [r for r in order if r["id"] in kept_ids][:cap]
        result = {"input vs reference": set_distance(features(order[:cap]), ref_feats)}
        if len(kept_sample) >= 2:
            result["kept vs reference"] = set_distance(features(kept_sample), ref_feats)
        for emotion in sorted({r.get("target_emotion") or "" for r in kept_sample} - {""}):
            members = [r for r in kept_sample if r.get("target_emotion") == emotion]
            if len(members) >= 2:
                result[f"kept {emotion} vs reference"] = set_distance(features(members), ref_feats)
    return result


def select_per_batch(rows_in: list[dict], scored_metrics: dict[str, dict], params: SelectParams) -> list[dict]:
    """Phase 3 on the journal: thresholds, then a class-balanced (or whole-identity) top-k per batch of
    the input order. One record per scored image, with `kept` and the `reason` when it was not."""
    records = []
    for batch_start in range(0, len(rows_in), params.batch_size):
        batch = rows_in[batch_start:batch_start + params.batch_size]
        scored = [r for r in batch if r["id"] in scored_metrics]
        metrics = [scored_metrics[r["id"]] for r in scored]
        scores = combined_scores(metrics, params.weights) if scored else np.zeros(0)
        eligible = [i for i, m in enumerate(metrics) if threshold_reason(m, params) is None]
        labels = [scored[i].get("target_emotion") or "unlabelled" for i in eligible]
        k = params.top_k if params.top_k is not None else len(eligible)
        if params.keep == "identities":
            picked = whole_identities_top_k([identity_key(scored[i]) for i in eligible], scores[eligible], k)
        else:
            picked = balanced_top_k(labels, scores[eligible], k)
        chosen = {eligible[j] for j in picked} if eligible else set()
        for i, (row, m) in enumerate(zip(scored, metrics)):
            reason = threshold_reason(m, params) or (None if i in chosen else "not_in_top_k")
            records.append({**row, **m, "score": float(scores[i]), "batch": batch_start // params.batch_size,
                            "kept": reason is None, "reason": reason or ""})
    return records


def copy_kept(records: list[dict], in_dir: Path, out: Path, columns: set[str]) -> list[dict]:
    """The kept images copied into the output, as manifest rows with their quality columns."""
    kept_rows = []
    for rec in records:
        if not rec["kept"]:
            continue
        dst = out / IMAGES_DIR / Path(rec["path"]).name
        copy_once(in_dir / rec["path"], dst)
        row = {k: v for k, v in rec.items() if k in columns and k not in ("reference_path",)}
        row.update({"path": f"{IMAGES_DIR}/{dst.name}", "q_face": rec["face"], "face_box": rec.get("face_box"),
                    "q_brisque": rec["brisque"],
                    "q_niqe": rec["niqe"], "q_score": rec["score"], "select_batch": rec["batch"],
                    **{f"q_{m}": rec.get(m) for m in ("psnr", "ssim", "rmse", "sam", "uqi")}})
        kept_rows.append(row)
    return kept_rows


def run(params: SelectParams, in_dir: str | Path, out_dir: str | Path, shard: Shard | None = None) -> dict:
    """Score, rank and keep the images of `in_dir` into `out_dir`. A `shard` scores only its part of
    the images (on chunk boundaries); ranking and the set distances happen once, in the merge."""
    in_dir, out = Path(in_dir), Path(out_dir)
    stage = StageRun(STAGE, params, out)
    telemetry = stage.telemetry
    rows_in = read_manifest(in_dir)
    input_digest = manifest_digest(in_dir)
    with stage.journal(input_digest) as journal:
        with telemetry.timed("load"):
            reference_images, reference_label = load_reference_images(params, in_dir)
            pristine = _pristine(reference_images, params.niqe_patch, out)
            detector = FaceDetector(min_confidence=params.min_face_confidence, device=params.device)
        mine = shard.take(rows_in, group=lambda r: r["id"], align=CHUNK) if shard else rows_in
        todo = [r for r in mine if not journal.finished(r["id"])]
        bar = progress(None, desc=STAGE, total=len(mine))
        bar.update(len(mine) - len(todo))
        for start in range(0, len(todo), CHUNK):
            chunk = todo[start:start + CHUNK]
            telemetry.seen(len(chunk))
            _score_chunk(chunk, in_dir, params, detector, pristine, journal, telemetry)
            bar.update(len(chunk))
        bar.close()
        if shard is not None:
            return stage.finish_shard(shard, {"images_in": len(mine), "scored": len(journal.done),
                                              "rejected": journal.rejection_counts()})

        records = select_per_batch(rows_in, journal.done, params)
        kept_rows = copy_kept(records, in_dir, out, set(rows_in[0]))
        write_manifest(out, kept_rows)
        _write_selection_csv(out, records, journal)
        distances = _distances(in_dir, rows_in, kept_rows, reference_images, params, telemetry)
        rejected = journal.rejection_counts()
        for rec in records:
            if rec["reason"]:
                rejected[rec["reason"]] = rejected.get(rec["reason"], 0) + 1
        per_class_in = dict(Counter(r.get("target_emotion") or "unlabelled" for r in rows_in))
        per_class_kept = dict(Counter(r.get("target_emotion") or "unlabelled" for r in kept_rows))
        counts = {"images_in": len(rows_in), "kept": len(kept_rows), "rejected": rejected,
                  "per_class_in": per_class_in, "per_class_kept": per_class_kept,
                  "reference": reference_label, "reference_images": len(reference_images)}
        with telemetry.timed("report"):
            report = write_report(out, in_dir, records, counts, distances, params)
        stage.finish(counts, report=report, distances=distances, input=input_digest,
                     problems=[e["detail"] for e in journal.rejected.values()][:1000])
    if not kept_rows:
        raise RuntimeError(f"{STAGE}: no image passed selection in {out} (rejected: {rejected})")
    return counts


def _write_selection_csv(out: Path, records: list[dict], journal: Journal) -> None:
    columns = ["id", "path", "target_emotion", "kept", "reason", "score", "batch", "face", "brisque", "niqe",
               "psnr", "ssim", "rmse", "sam", "uqi"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for rec in records:
        writer.writerow({**rec, "kept": int(rec["kept"])})
    for key, entry in journal.rejected.items():
        writer.writerow({"id": key, "kept": 0, "reason": entry["reason"]})
    atomic_write_bytes(out / "selection.csv", buf.getvalue().encode())
