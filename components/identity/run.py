"""The identity stage: seeds or photos -> aligned face crops, frames and a manifest.

Output dataset: images/<id>.png (aligned crop), frames/<id>.png (the frame it came
from), manifest.csv, stage.json and preview.png. Every image id is
<seed>_<order:06d>. Faces MTCNN cannot find are dropped and counted; unreadable
photos are reported and skipped; finished images survive a crash and are not redone.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from components.common.faces import FaceDetector, align
from components.common.imageio import ImageError, read_image, write_image
from components.common.manifest import FRAMES_DIR, IMAGES_DIR, write_manifest
from components.common.shards import Shard
from components.common.sheets import labelled_grid, tiled
from components.common.telemetry import progress
from components.common.stage_run import StageRun

from .folder import list_photos, load_photo
from .generators import GanBackend, make_gan_backend
from .params import IdentityParams

STAGE = "identity"
log = logging.getLogger("fersynth.identity")


@dataclass(frozen=True)
class Job:
    key: str  # <seed>_<order:06d>
    seed: int
    order: int
    latent_index: int | None = None
    latent_degree: float = 0.0
    photo: object | None = None  # folder backend: the Photo to load


def plan_gan_jobs(params: IdentityParams) -> list[Job]:
    """Every seed x degree, in a fixed order so file names are stable across runs."""
    jobs = []
    index = params.latent_index
    for seed in params.seed_list():
        for degree in params.latent_degrees if index is not None else [0.0]:
            order = len(jobs)
            jobs.append(Job(f"{seed}_{order:06d}", seed, order, index, float(degree)))
    return jobs


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _frames_for(batch: list[Job], params: IdentityParams, gan: GanBackend | None) -> list[np.ndarray | ImageError]:
    if gan is not None:
        latents = np.stack([gan.moved_latent(j.seed, j.latent_index, j.latent_degree) for j in batch])
        return list(gan.render(latents))
    frames: list[np.ndarray | ImageError] = []
    for job in batch:
        try:
            frames.append(load_photo(params.source, job.photo, params.frame_size))
        except ImageError as exc:
            frames.append(exc)
    return frames


def _frames_and_faces(block: list[Job], wanted: list[int], params: IdentityParams, gan: GanBackend | None,
                      detector: FaceDetector, telemetry) -> tuple[list, dict[int, object]]:
    """The `wanted` jobs' frames and detected faces (by position in `wanted`), computed on the whole block."""
    with telemetry.timed("generate" if gan else "read"):
        frames = _frames_for(block, params, gan)
    good = [i for i, f in enumerate(frames) if not isinstance(f, ImageError)]
    with telemetry.timed("detect"):
        found = dict(zip(good, detector.detect([frames[i] for i in good])))
    return [frames[i] for i in wanted], {k: found[i] for k, i in enumerate(wanted) if i in found}


def _row(job: Job, params: IdentityParams, source: str, face, matrix: np.ndarray) -> dict:
    return {
        "id": job.key,
        "path": f"{IMAGES_DIR}/{job.key}.png",
        "identity": f"{params.backend}-{job.seed}" if job.photo is None else f"photo-{job.photo.name}",
        "seed": job.seed,
        "order": job.order,
        "latent_index": -1 if job.latent_index is None else job.latent_index,
        "latent_degree": job.latent_degree,
        "backend": params.backend,
        "source": source,
        "frame_path": f"{FRAMES_DIR}/{job.key}.png",
        "face_score": round(face.score, 6),
        "landmarks": np.round(face.landmarks, 3).tolist(),
        "align_matrix": np.round(matrix, 6).tolist(),
    }


def _write_preview(out: Path, params: IdentityParams, gan: GanBackend | None, rows: list[dict]) -> str | None:
    if params.preview_seeds == 0:
        return None
    if gan is not None:
        seeds = params.seed_list()[: params.preview_seeds]
        latents = [gan.moved_latent(s, params.preview_index, d) for s in seeds for d in params.preview_degrees]
        frames = np.concatenate([gan.render(np.stack(chunk)) for chunk in _chunks(latents, params.batch_size)])
        cols = len(params.preview_degrees)
        cells = [list(frames[r * cols:(r + 1) * cols]) for r in range(len(seeds))]
        grid = labelled_grid(cells, [str(s) for s in seeds], [f"{d:+.1f}" for d in params.preview_degrees],
                             corner=f"dir {params.preview_index}")
    elif rows:
        shown = rows[: params.preview_seeds * 8]
        grid = tiled([read_image(out / r["path"]) for r in shown], [r["id"] for r in shown])
    else:
        return None
    write_image(out / "preview.png", grid)
    return "preview.png"


def _align_batch(batch: list[Job], frames: list, detections: dict, params: IdentityParams,
                 gan: GanBackend | None, source_of: dict[str, str], out: Path, journal, telemetry) -> int:
    """Align and write every frame of the batch with a face; journal the rest with their reason."""
    produced = 0
    for i, job in enumerate(batch):
        frame = frames[i]
        if isinstance(frame, ImageError):
            telemetry.rejected("unreadable", str(frame))
            journal.record_rejected(job.key, "unreadable", str(frame))
            continue
        if not detections[i]:
            what = source_of.get(job.key, f"seed {job.seed}")
            detail = f"{what}: no face with confidence >= {params.min_face_confidence}"
            telemetry.rejected("no_face", detail)
            journal.record_rejected(job.key, "no_face", detail)
            continue
        face = detections[i][0]
        with telemetry.timed("align_write"):
            aligned = align(frame, face.landmarks, params.crop_size, params.crop_padding)
            write_image(out / FRAMES_DIR / f"{job.key}.png", frame)
            write_image(out / IMAGES_DIR / f"{job.key}.png", aligned.crop)
        source = source_of.get(job.key, gan.source if gan else "")
        journal.record_ok(job.key, _row(job, params, source, face, aligned.matrix))
        produced += 1
    return produced


def run(params: IdentityParams, out_dir: str | Path, shard: Shard | None = None) -> dict:
    """Run the stage into `out_dir` (resuming a crashed run of the same parameters); returns the summary.

    With a `shard`, only that part of the plan is made, as a part for the merge (common/shards.py)."""
    out = Path(out_dir)
    stage = StageRun(STAGE, params, out)
    telemetry = stage.telemetry
    with stage.journal() as journal:
        gan: GanBackend | None = None
        skipped_files: list[str] = []
        with telemetry.timed("load"):
            if params.backend == "folder":
                photos, skipped_files = list_photos(params.source, params.count)
                jobs = [Job(f"{p.order}_{p.order:06d}", p.order, p.order, photo=p) for p in photos]
                source_of = {j.key: j.photo.name for j in jobs}
            else:
                gan = make_gan_backend(params, out / ".cache")
                jobs = plan_gan_jobs(params)
                source_of = {}
            detector = FaceDetector(min_confidence=params.min_face_confidence, device=params.device)
        skipped_details = [f"{params.source}/{name}: not an image file (by its suffix)" for name in skipped_files]
        for detail in skipped_details:
            telemetry.rejected("not_an_image", detail)
        mine = shard.take(jobs, group=lambda job: job.key, align=params.batch_size) if shard else jobs
        todo = [j for j in mine if not journal.finished(j.key)]
        if len(todo) < len(mine):
            log.info("resuming: %d of %d images already finished in %s", len(mine) - len(todo), len(mine), out)
        bar = progress(None, desc=f"{STAGE} ({params.backend})", total=len(todo))
        for block in _chunks(mine, params.batch_size):
            # A resumed block is generated and detected whole: the GAN's and the detector's arithmetic
            # depends on the batch, so only the same batches give the bytes of an uninterrupted run.
            unfinished = [i for i, job in enumerate(block) if not journal.finished(job.key)]
            if not unfinished:
                continue
            batch_start = time.perf_counter()
            batch = [block[i] for i in unfinished]
            telemetry.seen(len(batch))
            frames, detections = _frames_and_faces(block, unfinished, params, gan, detector, telemetry)
            produced = _align_batch(batch, frames, detections, params, gan, source_of, out, journal, telemetry)
            telemetry.produced(produced, (time.perf_counter() - batch_start) / max(len(batch), 1))
            bar.update(len(batch))
        bar.close()
        if shard is not None:
            return stage.finish_shard(shard, {"planned": len(mine), "identities": len(journal.done),
                                              "rejected": journal.rejection_counts()})
        rows = sorted(journal.done.values(), key=lambda r: r["order"])
        write_manifest(out, rows)
        with telemetry.timed("preview"):
            preview = _write_preview(out, params, gan, rows)
        rejected = journal.rejection_counts()
        if skipped_files:
            rejected["not_an_image"] = len(skipped_files)
        counts = {"planned": len(jobs), "identities": len(rows), "rejected": rejected}
        problems = skipped_details + [e["detail"] for e in journal.rejected.values()]
        stage.finish(counts, preview=preview, problems=problems[:1000], source=gan.source if gan else params.source)
    if not rows:
        raise RuntimeError(f"{STAGE}: no identities produced in {out} (rejected: {rejected})")
    return counts
