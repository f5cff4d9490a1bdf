"""68-point facial landmarks (dlib's shape predictor, iBUG-300W layout) on aligned crops.

The model file comes from the installed `face-recognition-models` package or Debian's
`libdlib-data`, or a path given in FERSYNTH_DLIB_LANDMARKS; nothing is downloaded.
Index groups: jaw 0-16, brows 17-21 / 22-26, nose 27-35, eyes 36-41 / 42-47,
outer lips 48-59, inner lips 60-67 (image left = the subject's right).
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from .faces import template_points

MODEL_NAME = "shape_predictor_68_face_landmarks.dat"
RIGHT_EYE, LEFT_EYE = slice(36, 42), slice(42, 48)
OUTER_LIPS, INNER_LIPS = slice(48, 60), slice(60, 68)
# The inner lips corner to corner, upper then lower with the same corners, and their facing (upper, lower) points.
INNER_UPPER_LIP, INNER_LOWER_LIP = [60, 61, 62, 63, 64], [60, 67, 66, 65, 64]
INNER_LIP_PAIRS = tuple(zip(INNER_UPPER_LIP[1:-1], INNER_LOWER_LIP[1:-1]))  # (61, 67), (62, 66), (63, 65)


class LandmarkError(ValueError):
    pass


def find_model(name: str = MODEL_NAME, env: str = "FERSYNTH_DLIB_LANDMARKS") -> Path:
    """A dlib model file by name: the path in `env`, the face-recognition-models package, Debian's libdlib-data."""
    candidates = []
    if os.environ.get(env):
        candidates.append(Path(os.environ[env]))
    from importlib.util import find_spec

    spec = find_spec("face_recognition_models")
    if spec and spec.submodule_search_locations:  # read by path: its __init__ needs pkg_resources
        candidates.append(Path(list(spec.submodule_search_locations)[0]) / "models" / name)
    candidates.append(Path("/usr/share/dlib") / name)
    for path in candidates:
        if path.is_file():
            return path
    raise LandmarkError(f"dlib model {name} not found (looked in {', '.join(map(str, candidates))}); "
                        "pip install face-recognition-models==0.3.0 or apt-get install libdlib-data")


@lru_cache(maxsize=1)
def _models():
    import dlib

    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(find_model()))


def eye_centres(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return points[RIGHT_EYE].mean(0), points[LEFT_EYE].mean(0)


def detect_on_aligned(crop: np.ndarray, padding: float = 0.0) -> np.ndarray:
    """(68, 2) landmarks of the face in an aligned crop, checked against the alignment template.

    The crop was aligned by 5 MTCNN points, so the face box is known from the template;
    dlib's own detector refines it when it finds a face near the template.
    """
    import dlib

    detector, predictor = _models()
    size = crop.shape[0]
    tpl = template_points(size, padding)
    eyes_mid, mouth_mid = tpl[:2].mean(0), tpl[3:].mean(0)
    iod = float(np.linalg.norm(tpl[1] - tpl[0]))
    rect = dlib.rectangle(int(eyes_mid[0] - 1.12 * iod), int(eyes_mid[1] - 0.57 * iod),
                          int(eyes_mid[0] + 1.12 * iod), int(eyes_mid[1] + 1.66 * iod))
    found = [r for r in detector(crop, 0)
             if abs((r.left() + r.right()) / 2 - eyes_mid[0]) < 0.5 * iod and r.width() > 1.2 * iod]
    if found:
        rect = max(found, key=lambda r: r.width())
    face = crop[max(rect.top(), 0):rect.bottom(), max(rect.left(), 0):rect.right()]
    if face.size == 0 or float(face.mean(axis=2).std()) < 4.0:
        raise LandmarkError("no facial detail where the face should be (blank or flat image)")
    shape = predictor(np.ascontiguousarray(crop), rect)
    points = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)
    right, left = eye_centres(points)
    mouth = points[OUTER_LIPS].mean(0)
    if (np.linalg.norm(right - tpl[0]) > 0.3 * iod or np.linalg.norm(left - tpl[1]) > 0.3 * iod
            or np.linalg.norm(mouth - mouth_mid) > 0.4 * iod):
        raise LandmarkError("68-point landmarks disagree with the aligned face (eyes or mouth off template)")
    return points
