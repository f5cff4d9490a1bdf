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
import time
from pathlib import Path

import numpy as np

from components.common.face_descriptors import DescriptorExtractor, distances, nearest
from components.common.imageio import ImageError, atomic_write_bytes, copy_once, read_image
from components.common.manifest import (IMAGES_DIR, add_columns, identity_key, read_manifest, write_manifest,
                                         write_stage_info)
from components.common.telemetry import StageTelemetry, progress

from .params import PrivacyParams
from .references import reference_faces
from .report import write_report

STAGE = "privacy"


def _finite(value: float) -> float | None:
    return round(float(value), 4) if np.isfinite(value) else None


def identity_descriptors(in_dir: Path, rows: list[dict], params: PrivacyParams, extractor: DescriptorExtractor,
                         telemetry: StageTelemetry) -> dict[str, np.ndarray]:
    by_identity: dict[str, list[dict]] = {}
    for row in rows:
        by_identity.setdefault(identity_key(row), []).append(row)
    descriptors = {}
    for identity, members in progress(by_identity.items(), desc=f"{STAGE} (identities)", total=len(by_identity)):
        members = sorted(members, key=lambda r: (r.get("target_emotion") != "neutral", r["id"]))
        found = []
        for row in members[: params.images_per_identity]:
            try:
                d = extractor.describe(read_image(in_dir / row["path"]), aligned=True)
            except ImageError as exc:
                telemetry.rejected("unreadable", str(exc))
                continue
            if d is not None:
                found.append(d)
        if found:
            descriptors[identity] = np.mean(found, axis=0)
        else:
            telemetry.rejected("no_descriptor", f"identity {identity}: no face descriptor from its images")
    return descriptors


def run(params: PrivacyParams, in_dir: str | Path, out_dir: str | Path) -> dict:
    in_dir, out = Path(in_dir), Path(out_dir)
    telemetry = StageTelemetry(STAGE)
    started = time.perf_counter()
    rows = read_manifest(in_dir)
    extractor = DescriptorExtractor()
    with telemetry.timed("synthetic"):
        synthetic = identity_descriptors(in_dir, rows, params, extractor, telemetry)
    problems: list[str] = []
    names, real, thumbnails = [], [], {}
    with telemetry.timed("reference"):
        for name, image, aligned in progress(reference_faces(params.reference, problems), desc=f"{STAGE} (real)"):
            if len(real) >= params.max_reference:
                break
            d = extractor.describe(image, aligned=aligned)
            if d is None:
                problems.append(f"{name}: no face found")
                continue
            names.append(name)
            real.append(d)
            thumbnails[name] = image
    keys = sorted(synthetic)
    queries = np.stack([synthetic[k] for k in keys]) if keys else np.zeros((0, 128), np.float32)
    references = np.stack(real) if real else np.zeros((0, 128), np.float32)
    distance, index = nearest(queries, references)
    # nearest other synthetic identity (the diagonal is the identity itself)
    twin = np.full(len(keys), np.inf, np.float32)
    if len(keys) > 1:
        d = distances(queries, queries)
        np.fill_diagonal(d, np.inf)
        twin = d.min(1)
    per_identity = {k: {"distance": _finite(distance[i]), "nearest": names[index[i]] if index[i] >= 0 else None,
                        "twin_distance": _finite(twin[i])} for i, k in enumerate(keys)}
    flagged = sorted(k for i, k in enumerate(keys) if distance[i] < params.threshold)
    dropped = set(flagged) if params.drop else set()
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
    kept = add_columns(kept, STAGE, {
        "privacy_distance": kept_distances,
        "privacy_flagged": [int(d is not None and d < params.threshold) for d in kept_distances]})
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
    telemetry.timings["total"] = time.perf_counter() - started
    write_stage_info(out, STAGE, params.model_dump(), summary, telemetry.timings,
                     extra={"report": "privacy.html", "problems": problems[:1000]})
    telemetry.push()
    if not kept:
        raise RuntimeError(f"{STAGE}: every identity of {in_dir} was dropped as too close to a real face")
    return summary
