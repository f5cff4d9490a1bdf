"""Face detection (MTCNN from facenet-pytorch, weights shipped in the package) and
5-point similarity alignment to a canonical template.

`align` returns the crop and the 2x3 transform frame -> crop; `paste_matrix` gives
the inverse (crop -> frame) that the adapt stage uses to paste an edited crop back.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

# Canonical 5-point template (eyes, nose tip, mouth corners) of the widely used
# 112x112 face-recognition crop, in unit coordinates.
TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)
UNIT_TEMPLATE = TEMPLATE_112 / 112.0


@dataclass(frozen=True)
class Face:
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in frame pixels
    score: float
    landmarks: np.ndarray  # (5, 2): left eye, right eye, nose, left mouth, right mouth


@dataclass(frozen=True)
class AlignedFace:
    crop: np.ndarray  # (size, size, 3) RGB uint8
    matrix: np.ndarray  # (2, 3) frame -> crop


def template_points(size: int, padding: float) -> np.ndarray:
    """Template landmarks for a `size` crop; `padding` > 0 zooms out to keep brow, chin and cheeks."""
    unit = (UNIT_TEMPLATE + padding) / (1.0 + 2.0 * padding)
    return unit * size


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) mapping src -> dst (Umeyama 1991)."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    cov = dst_c.T @ src_c / len(src)
    u, s, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1.0
    rotation = u @ np.diag(d) @ vt
    scale = (s * d).sum() / src_c.var(0).sum()
    translation = dst_mean - scale * rotation @ src_mean
    return np.hstack([scale * rotation, translation[:, None]])


def align(frame: np.ndarray, landmarks: np.ndarray, size: int = 128, padding: float = 0.0) -> AlignedFace:
    matrix = similarity_transform(landmarks, template_points(size, padding))
    crop = cv2.warpAffine(frame, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return AlignedFace(crop=crop, matrix=matrix)


def paste_matrix(matrix: np.ndarray) -> np.ndarray:
    """Inverse of an alignment matrix: crop pixels -> frame pixels."""
    return cv2.invertAffineTransform(np.asarray(matrix, dtype=np.float64))


class FaceDetector:
    """MTCNN on the CPU (or a given device); batches must hold frames of one size."""

    def __init__(self, min_confidence: float = 0.9, min_face_size: int = 20, device: str = "cpu"):
        from facenet_pytorch import MTCNN  # weights load from the installed package, no download

        self.min_confidence = min_confidence
        self._mtcnn = MTCNN(keep_all=True, min_face_size=min_face_size, device=device, post_process=False)

    def detect(self, frames: Sequence[np.ndarray]) -> list[list[Face]]:
        """All faces above `min_confidence` in each frame, most confident first."""
        if not frames:
            return []
        shapes = {f.shape for f in frames}
        if len(shapes) != 1:  # MTCNN batches need one size; fall back to one at a time
            return [self.detect([f])[0] for f in frames]
        batch = np.stack(frames)
        boxes, probs, points = self._mtcnn.detect(batch, landmarks=True)
        results = []
        for b, p, pts in zip(boxes, probs, points):
            faces = []
            if b is not None:
                for box, prob, lm in zip(b, p, pts):
                    if prob is not None and prob >= self.min_confidence:
                        faces.append(Face(tuple(float(v) for v in box), float(prob), np.asarray(lm, np.float64)))
            faces.sort(key=lambda f: -f.score)
            results.append(faces)
        return results


def align_most_confident(detector: FaceDetector, image: np.ndarray, size: int,
                         padding: float = 0.0) -> tuple[AlignedFace, Face, int]:
    """(aligned crop, the face, faces found) for the most confident face; ValueError when there is none."""
    faces = detector.detect([image])[0]
    if not faces:
        raise ValueError("no face found")
    return align(image, faces[0].landmarks, size, padding), faces[0], len(faces)
