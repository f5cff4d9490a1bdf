"""The expression stage's per-identity work, in this process or spread over worker processes.

An identity's edits depend only on its crop and its planned targets, so identities are edited independently:
with more than one usable core, worker processes (each with its own editors) edit whole identities and the
stage process writes what they return, in plan order. A warp editor runs on one core, so on 2 cores the stage
makes nearly twice the edits per second. GAN editors batch on one device and stay in this process."""
from __future__ import annotations

import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Iterator

import numpy as np

from components.common.imageio import ImageError, read_image
from components.common.landmarks import LandmarkError, detect_on_aligned

from .au_warp import Edit
from .editors import EditRejected, make_editor
from .params import ExpressionParams
from .targets import Target

Job = tuple[str, Target, str]  # (image key, target, editor name)
MIN_POOLED_IDENTITIES = 8  # starting a worker costs about as much as editing a few identities
AHEAD_PER_WORKER = 2  # identities submitted per worker beyond the one being written: workers never wait


@dataclass
class IdentityEdits:
    """What editing one identity gave: its landmarks (None if its crop could not be read or measured), the
    edits made, the jobs refused with (reason, detail), and seconds spent per step."""
    landmarks: np.ndarray | None
    made: list[tuple[Job, Edit]] = field(default_factory=list)
    refused: list[tuple[list[Job], str, str]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def edit_identity(parent: dict, todo: list[Job], in_dir: Path, editors: dict) -> IdentityEdits:
    """All the identity's pending edits, one batch per editor. An editor's refusal (e.g. no mesh, a pose it
    cannot serve) refuses only its jobs: another editor may still serve the identity."""
    start = time.perf_counter()
    path = in_dir / parent["path"]
    try:
        crop = read_image(path)
        landmarks = detect_on_aligned(crop)
    except (ImageError, LandmarkError, OSError) as exc:
        reason = "landmarks_failed" if isinstance(exc, LandmarkError) else "unreadable"
        return IdentityEdits(None, refused=[(todo, reason, f"{path}: {exc}")])
    result = IdentityEdits(landmarks, seconds={"landmarks": time.perf_counter() - start})
    start = time.perf_counter()
    for name, editor in editors.items():
        jobs = [job for job in todo if job[2] == name]
        if not jobs:
            continue
        try:
            edits = editor.edit_batch([crop] * len(jobs), [landmarks] * len(jobs), [t for _, t, _ in jobs])
        except EditRejected as exc:
            result.refused.append((jobs, exc.reason, f"{path}: {exc}"))
            continue
        result.made.extend(zip(jobs, edits))
    result.seconds["edit"] = time.perf_counter() - start
    return result


class EditPool:
    """Edits identities in plan order: here, or in `workers` processes when there are enough of them and every
    editor is a warp editor. `editors`: this process's own (built once the stage starts, which also checks the
    parameters before any worker starts)."""

    def __init__(self, params: ExpressionParams, editors: dict, workers: int):
        self.params = params
        self.editors = editors
        self.workers = workers if "ganmut" not in editors else 1
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> EditPool:
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def edit(self, pending: list[tuple[dict, list[Job]]], in_dir: Path) -> Iterator[IdentityEdits]:
        """One `IdentityEdits` per (identity, its pending jobs), in order."""
        if self.workers <= 1 or len(pending) < MIN_POOLED_IDENTITIES:
            yield from (edit_identity(parent, todo, in_dir, self.editors) for parent, todo in pending)
            return
        if self._pool is None:  # spawn: a forked copy of a process that started OpenCV's or torch's threads can hang
            self._pool = ProcessPoolExecutor(self.workers, mp_context=get_context("spawn"), initializer=_start_worker,
                                             initargs=(self.params.model_dump(), list(self.editors)))
        # a few identities ahead of the writing, not all: a finished identity's edits wait in memory until written
        ahead: deque[Future] = deque()
        for parent, todo in pending:
            ahead.append(self._pool.submit(_edit_in_worker, (parent, todo, in_dir)))
            if len(ahead) >= AHEAD_PER_WORKER * self.workers:
                yield ahead.popleft().result()
        while ahead:
            yield ahead.popleft().result()


_worker_editors: dict = {}


def _start_worker(params: dict, names: list[str]) -> None:
    import cv2

    cv2.setNumThreads(1)  # one core per worker: the pool is the parallelism
    base = ExpressionParams(**params)
    _worker_editors.update({name: make_editor(base.model_copy(update={"editor": name}), None) for name in names})


def _edit_in_worker(job: tuple[dict, list[Job], Path]) -> IdentityEdits:
    return edit_identity(*job, _worker_editors)
