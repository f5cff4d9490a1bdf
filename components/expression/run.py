"""The expression stage: identities x targets -> edited face crops.

Input: an identity dataset. Output: images/<seed>_<order:06d>.png (edited crops),
frames/<identity id>.png (each identity's frame, once), manifest.csv with the
target of every image, stage.json and contact_sheet.png (rows: identities,
columns: targets). Every identity gets every requested target (a balanced plan);
faces whose 68 landmarks cannot be found are dropped with the reason.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from components.common.cores import usable_cores
from components.common.imageio import copy_once, write_image
from components.common.manifest import (FRAMES_DIR, IMAGES_DIR, manifest_digest, read_manifest, write_manifest)
from components.common.shards import Shard
from components.common.sheets import contact_sheet
from components.common.telemetry import progress
from components.common.stage_run import StageRun

from .editors import make_editor
from .parallel import EditPool, IdentityEdits, Job
from .params import ExpressionParams
from .targets import Target, plan_for_identity, prototypes_for, variants_for

STAGE = "expression"
log = logging.getLogger("fersynth.expression")


def _targets(params: ExpressionParams, seed: int, editor: str) -> list[Target]:
    return plan_for_identity(seed, params.emotions, params.polar_thetas, params.au_targets,
                             params.intensity_min, params.intensity_max, params.repeats, prototypes_for(editor),
                             variants_for(editor) if params.variants else None)


def _row(parent: dict, key: str, target: Target, editor: str, src: np.ndarray, dst: np.ndarray) -> dict:
    return {
        **{k: v for k, v in parent.items() if k not in ("id", "path")},
        "id": key,
        "path": f"{IMAGES_DIR}/{key}.png",
        "frame_path": f"{FRAMES_DIR}/{parent['id']}.png",
        "parent_id": parent["id"],
        "target_kind": target.kind,
        "target_emotion": target.emotion,
        "target_intensity": target.intensity,
        "target_aus": {str(a): v for a, v in sorted(target.aus.items())},
        "target_side": target.side or "",
        "target_rho": target.rho,
        "target_theta": target.theta,
        "editor": editor,
        "landmarks68": np.round(src, 2).tolist(),
        "edited_landmarks68": np.round(dst, 2).tolist(),
    }


def _plan(params: ExpressionParams, parents: list[dict]) -> list[tuple[dict, list[Job]]]:
    """Every identity with its jobs, editor by editor; keys number the images in plan order."""
    plan, order = [], 0
    for parent in parents:
        jobs = []
        for editor in params.editor_names:
            for target in _targets(params, parent["seed"], editor):
                jobs.append((f"{parent['seed']}_{order:06d}", target, editor))
                order += 1
        plan.append((parent, jobs))
    return plan


def _record(parent: dict, todo: list[Job], result: IdentityEdits, in_dir: Path, out: Path, journal,
            telemetry) -> None:
    """Write one identity's edits and journal them with its refusals (the file and the reason)."""
    telemetry.seen(len(todo))
    for name, seconds in result.seconds.items():
        telemetry.spent(name, seconds)
    made, refused = result.made, result.refused
    if result.landmarks is not None:
        try:
            copy_once(in_dir / parent["frame_path"], out / FRAMES_DIR / f"{parent['id']}.png")
        except OSError as exc:  # the identity's frame goes with its edits: none are kept without it
            made, refused = [], [(todo, "unreadable", f"{in_dir / parent['frame_path']}: {exc}")]
    for jobs, reason, detail in refused:
        telemetry.rejected(reason, detail)
        for key, _, _ in jobs:
            journal.record_rejected(key, reason, detail)
    start = time.perf_counter()
    for (key, target, editor), edit in made:
        write_image(out / IMAGES_DIR / f"{key}.png", edit.image)
        journal.record_ok(key, _row(parent, key, target, editor, result.landmarks, edit.landmarks))
    if made:
        telemetry.spent("write", time.perf_counter() - start)
        telemetry.produced(len(made), sum(result.seconds.values()) / len(made))


def run(params: ExpressionParams, in_dir: str | Path, out_dir: str | Path, shard: Shard | None = None) -> dict:
    """Edit every identity of `in_dir` into `out_dir` (a `shard`: only its identities, as a part)."""
    in_dir, out = Path(in_dir), Path(out_dir)
    stage = StageRun(STAGE, params, out)
    telemetry = stage.telemetry
    parents = read_manifest(in_dir)[: params.max_identities]
    input_digest = manifest_digest(in_dir)
    with stage.journal(input_digest) as journal:
        with telemetry.timed("load"):
            editors = {name: make_editor(params.model_copy(update={"editor": name}), out / ".cache")
                       for name in params.editor_names}
        plan = _plan(params, parents)
        if shard is not None:
            plan = shard.take(plan, group=lambda entry: entry[0]["id"])
        total = sum(len(jobs) for _, jobs in plan)
        bar = progress(None, desc=f"{STAGE} ({'+'.join(editors)})", total=total)
        pending = [(parent, [job for job in jobs if not journal.finished(job[0])]) for parent, jobs in plan]
        bar.update(total - sum(len(todo) for _, todo in pending))  # finished before a crash
        pending = [(parent, todo) for parent, todo in pending if todo]
        with EditPool(params, editors, params.workers or usable_cores()) as pool:
            for (parent, todo), result in zip(pending, pool.edit(pending, in_dir)):
                _record(parent, todo, result, in_dir, out, journal, telemetry)
                bar.update(len(todo))
        bar.close()
        if shard is not None:
            return stage.finish_shard(shard, {"planned": total, "images": len(journal.done),
                                              "rejected": journal.rejection_counts()})
        rows = sorted(journal.done.values(), key=lambda r: r["id"].split("_")[1])
        write_manifest(out, rows)
        with telemetry.timed("sheet"):
            sheet = contact_sheet(out, rows, params.sheet_identities)
        rejected = journal.rejection_counts()
        counts = {"identities_in": len(parents), "planned": total, "images": len(rows), "rejected": rejected,
                  "per_emotion": _per_emotion(rows)}
        problems = sorted({e["detail"] for e in journal.rejected.values()})
        stage.finish(counts, contact_sheet=sheet, problems=problems[:1000], input=input_digest)
    if not rows:
        raise RuntimeError(f"{STAGE}: no images produced in {out} (rejected: {rejected})")
    return counts


def _per_emotion(rows: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        label = row["target_emotion"] or "unlabelled"
        counts[label] = counts.get(label, 0) + 1
    return counts
