"""The privacy stage: a memorisation check of synthetic identities against real faces.

Each synthetic identity gets a 128-d dlib face descriptor (mean over a few of its images, the
neutral one first); each real reference face gets one too. An identity whose nearest real face is
closer than the threshold (dlib's same-person distance, 0.6) is flagged, and with `drop` left out
of the output. Near-twins among the synthetic identities are counted too: two seeds that give one
person would leak across identity-disjoint train/test splits.
Output: the dataset (minus dropped identities) with privacy_* columns, privacy.json, privacy.html.
"""
from __future__ import annotations

import json
from itertools import islice
from pathlib import Path

import numpy as np

from components.common.face_descriptors import DescriptorPool, distances, nearest
from components.common.imageio import ImageError, atomic_write_bytes, copy_once, read_image
from components.common.manifest import (IMAGES_DIR, add_columns, identity_key, manifest_digest, read_manifest,
                                        write_manifest)
from components.common.telemetry import StageTelemetry, progress
from components.common.shards import Shard
from components.common.stage_run import StageRun

from .params import PrivacyParams
from .references import reference_faces
from .report import write_report

STAGE = "privacy"


def _finite(value: float) -> float | None:
    return round(float(value), 4) if np.isfinite(value) else None


def _by_identity(rows: list[dict]) -> dict[str, list[dict]]:
    by_identity: dict[str, list[dict]] = {}
    for row in rows:
        by_identity.setdefault(identity_key(row), []).append(row)
    return by_identity


def identity_descriptors(in_dir: Path, by_identity: dict[str, list[dict]], params: PrivacyParams,
                         pool: DescriptorPool, journal, telemetry: StageTelemetry) -> None:
    """Each identity's descriptor into the journal: the mean over its first few images, the neutral one
    first. Identities the journal holds already (a resumed run, a merge of shards) are not described again."""
    owners, images, boxes = [], [], []
    todo = [identity for identity in by_identity if not journal.finished(identity)]
    for identity in todo:
        members = sorted(by_identity[identity], key=lambda r: (r.get("target_emotion") != "neutral", r["id"]))
        for row in members[: params.images_per_identity]:
            try:
                images.append(read_image(in_dir / row["path"]))
                owners.append(identity)
                boxes.append(row.get("face_box"))  # select found this face already: not detected again
            except ImageError as exc:
                telemetry.rejected("unreadable", str(exc))
    found: dict[str, list[np.ndarray]] = {}
    described = pool.describe((image, True, box) for image, box in zip(images, boxes))
    for identity, d in zip(owners, progress(described, desc=f"{STAGE} (synthetic)", total=len(images))):
        if d is not None:
            found.setdefault(identity, []).append(d)
    for identity in todo:
        if identity in found:
            journal.record_ok(identity, {"descriptor": np.mean(found[identity], axis=0).astype(np.float32).tolist()})
        else:
            journal.record_rejected(identity, "no_descriptor", f"identity {identity}: no face descriptor from its images")


def reference_descriptors(params: PrivacyParams, pool: DescriptorPool, problems: list[str]):
    """(names, descriptors, thumbnails) of the real reference faces a descriptor was found for."""
    names, real, thumbnails = [], [], {}
    faces = list(islice(reference_faces(params.reference, problems), params.max_reference))
    described = pool.describe((image, aligned) for _, image, aligned in faces)
    for (name, image, _), d in zip(faces, progress(described, desc=f"{STAGE} (real)", total=len(faces))):
        if d is None:
            problems.append(f"{name}: no face found")
            continue
        names.append(name)
        real.append(d)
        thumbnails[name] = image
    return names, real, thumbnails


def nearest_faces(queries: np.ndarray, references: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(distance and index of each identity's nearest real face, distance to its nearest other identity)."""
    distance, index = nearest(queries, references)
    twin = np.full(len(queries), np.inf, np.float32)
    if len(queries) > 1:
        d = distances(queries, queries)
        np.fill_diagonal(d, np.inf)  # the diagonal is the identity itself
        twin = d.min(1)
    return distance, index, twin


def copy_checked(rows: list[dict], in_dir: Path, out: Path, dropped: set[str], per_identity: dict,
                 threshold: float, telemetry) -> list[dict]:
    """The images of identities not dropped, with their privacy columns."""
    kept = []
    for row in rows:
        telemetry.seen()
        if identity_key(row) in dropped:
            telemetry.rejected("too_close_to_a_real_face")
            continue
        src = in_dir / row["path"]
        copy_once(src, out / IMAGES_DIR / src.name)
        kept.append({**row, "path": f"{IMAGES_DIR}/{src.name}"})
        telemetry.produced()
    kept_distances = [per_identity.get(identity_key(r), {}).get("distance") for r in kept]
    return add_columns(kept, STAGE, {
        "privacy_distance": kept_distances,
        "privacy_flagged": [int(d is not None and d < threshold) for d in kept_distances]})


def run(params: PrivacyParams, in_dir: str | Path, out_dir: str | Path, shard: Shard | None = None) -> dict:
    """Describe every synthetic identity, compare with the real faces, keep what may be kept. A `shard`
    describes only its identities; the comparison happens once, in the merge."""
    in_dir, out = Path(in_dir), Path(out_dir)
    stage = StageRun(STAGE, params, out)
    telemetry = stage.telemetry
    rows = read_manifest(in_dir)
    by_identity = _by_identity(rows)
    problems: list[str] = []
    with stage.journal(manifest_digest(in_dir)) as journal:
        with DescriptorPool() as pool:
            with telemetry.timed("synthetic"):
                mine = shard.take(list(by_identity), group=str) if shard else list(by_identity)
                identity_descriptors(in_dir, {k: by_identity[k] for k in mine}, params, pool, journal, telemetry)
            if shard is not None:
                return stage.finish_shard(shard, {"identities": len(mine), "described": len(journal.done),
                                                  "rejected": journal.rejection_counts()})
            with telemetry.timed("reference"):
                names, real, thumbnails = reference_descriptors(params, pool, problems)
        synthetic = {k: np.asarray(v["descriptor"], np.float32) for k, v in journal.done.items()}
        for entry in journal.rejected.values():
            telemetry.rejected(entry["reason"], entry["detail"])
    keys = sorted(synthetic)
    queries = np.stack([synthetic[k] for k in keys]) if keys else np.zeros((0, 128), np.float32)
    distance, index, twin = nearest_faces(queries, np.stack(real) if real else np.zeros((0, 128), np.float32))
    per_identity = {k: {"distance": _finite(distance[i]), "nearest": names[index[i]] if index[i] >= 0 else None,
                        "twin_distance": _finite(twin[i])} for i, k in enumerate(keys)}
    flagged = sorted(k for i, k in enumerate(keys) if distance[i] < params.threshold)
    dropped = set(flagged) if params.drop else set()
    kept = copy_checked(rows, in_dir, out, dropped, per_identity, params.threshold, telemetry)
    write_manifest(out, kept)
    summary = {"identities": len({identity_key(r) for r in rows}),
               "described": len(keys), "references": len(real), "threshold": params.threshold,
               "flagged": len(flagged), "dropped_identities": len(dropped), "images_out": len(kept),
               "min_distance": float(distance.min()) if len(keys) and len(real) else None,
               "median_distance": float(np.median(distance)) if len(keys) and len(real) else None,
               "synthetic_twins": int((twin < params.threshold).sum()),
               "reference_specs": params.reference}
    atomic_write_bytes(out / "privacy.json", json.dumps(
        {**summary, "flagged_identities": flagged, "per_identity": per_identity, "problems": problems[:1000]},
        indent=2).encode())
    with telemetry.timed("report"):
        write_report(out / "privacy.html", summary, distance, twin, keys, per_identity, in_dir, rows, thumbnails,
                     params.report_examples)
    stage.finish(summary, report="privacy.html", problems=problems[:1000])
    if not kept:
        raise RuntimeError(f"{STAGE}: every identity of {in_dir} was dropped as too close to a real face")
    return summary
