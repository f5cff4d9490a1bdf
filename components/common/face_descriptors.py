"""128-d face descriptors (dlib's ResNet face recognition model) for identity comparisons.

Two faces of one person are usually closer than 0.6 (Euclidean) in this space; that is the
threshold dlib's model was calibrated for (99.38 % on LFW). The face box comes from our MTCNN
detector, the 5 points from dlib's 5-point shape predictor, then dlib's own face chip and network.
Model files are read from the installed face-recognition-models package (or FERSYNTH_DLIB_DESCRIPTOR).
"""
from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from itertools import islice
from multiprocessing import get_context
from typing import Iterable, Iterator

import numpy as np

from .cores import usable_cores
from .faces import FaceDetector
from .landmarks import find_model

SAME_PERSON_DISTANCE = 0.6


@lru_cache(maxsize=1)
def _models():
    import dlib

    return (dlib.shape_predictor(str(find_model("shape_predictor_5_face_landmarks.dat"))),
            dlib.face_recognition_model_v1(str(find_model("dlib_face_recognition_resnet_model_v1.dat",
                                                          "FERSYNTH_DLIB_DESCRIPTOR"))))


class DescriptorExtractor:
    def __init__(self, detector: FaceDetector | None = None):
        self.detector = detector or FaceDetector(min_confidence=0.8)

    def describe(self, image: np.ndarray, aligned: bool = False, box=None) -> np.ndarray | None:
        """The descriptor of the most confident face, or None when there is no face.

        `box` ([x0, y0, x1, y1] in image pixels, e.g. the manifest's `face_box` from select's face check
        on this very image) skips the detector. `aligned` crops (our datasets) fall back to the whole
        crop when the detector finds nothing (small, tightly cropped faces): the face fills it."""
        import dlib

        shape_predictor, network = _models()
        rgb = np.ascontiguousarray(image[..., :3] if image.ndim == 3 else np.repeat(image[..., None], 3, 2))
        if min(rgb.shape[:2]) < 150:  # dlib's face chip is 150 px: give it enough pixels
            import cv2

            scale = 150 / min(rgb.shape[:2])
            rgb = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
            box = None if box is None else [v * scale for v in box]
        if box is None:
            faces = self.detector.detect([rgb])[0]
            if faces:
                box = faces[0].box
            elif aligned:
                box = (0, 0, rgb.shape[1] - 1, rgb.shape[0] - 1)
            else:
                return None
        shape = shape_predictor(rgb, dlib.rectangle(*(int(round(v)) for v in box)))
        return np.asarray(network.compute_face_descriptor(rgb, shape), np.float32)


_worker_extractor: DescriptorExtractor | None = None


def _start_worker() -> None:
    global _worker_extractor
    import torch

    torch.set_num_threads(1)  # one core per worker; the pool is the parallelism
    _worker_extractor = DescriptorExtractor()


def _describe_in_worker(job: tuple) -> np.ndarray | None:
    """job: (image, aligned) or (image, aligned, face box)."""
    return _worker_extractor.describe(*job)


class DescriptorPool:
    """Descriptors of many (image, aligned) jobs, in order. dlib's network runs on one core, so large
    batches are spread over worker processes, each with its own detector and dlib models. Workers
    start on the first large batch (starting one costs about as much as 30 descriptors) and serve
    every later `describe` call until the `with` block ends."""

    MIN_POOLED_JOBS = 32

    def __init__(self, workers: int | None = None):
        self.workers = usable_cores() if workers is None else workers
        self._pool: ProcessPoolExecutor | None = None
        self._local: DescriptorExtractor | None = None

    def __enter__(self) -> "DescriptorPool":
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def describe(self, jobs: Iterable[tuple]) -> Iterator[np.ndarray | None]:
        jobs = iter(jobs)
        while batch := list(islice(jobs, 32 * max(self.workers, 1))):  # bounded: references can be big photos
            if self._pool is None and self.workers > 1 and len(batch) >= self.MIN_POOLED_JOBS:
                # spawn: a forked copy of a process that already ran torch's thread pool can hang
                self._pool = ProcessPoolExecutor(self.workers, mp_context=get_context("spawn"),
                                                 initializer=_start_worker)
            if self._pool is not None:
                yield from self._pool.map(_describe_in_worker, batch, chunksize=4)
            else:
                self._local = self._local or DescriptorExtractor()
                yield from (self._local.describe(*job) for job in batch)


def distances(queries: np.ndarray, references: np.ndarray) -> np.ndarray:
    """(Q, R) Euclidean distances between descriptors."""
    return np.sqrt(np.maximum(((queries[:, None, :] - references[None, :, :]) ** 2).sum(-1), 0))


def nearest(queries: np.ndarray, references: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distance, index) of each query's nearest reference descriptor."""
    if len(references) == 0 or len(queries) == 0:
        return np.full(len(queries), np.inf, np.float32), np.full(len(queries), -1)
    d = distances(queries, references)
    index = d.argmin(1)
    return d[np.arange(len(queries)), index], index
