"""MediaPipe's 478-point face mesh on a face crop (the legacy face_mesh graph of mediapipe 0.10.14-0.10.21).

The models ship inside the mediapipe wheel; nothing is downloaded. Points come back in pixels:
x right, y down, z (depth, towards the camera negative) in the same pixel scale as x.
Index groups used by the editors are named below (image left = the subject's right).
"""
from __future__ import annotations

import os
import threading
import warnings
from contextlib import contextmanager
from functools import lru_cache

import numpy as np

MESH_POINTS = 478
# Inner lip contour, corner to corner: upper lip then lower lip (both run image left -> right).
INNER_UPPER_LIP = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
INNER_LOWER_LIP = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
INNER_LIP_PAIRS = tuple(zip(INNER_UPPER_LIP[1:-1], INNER_LOWER_LIP[1:-1]))  # facing (upper, lower), no corners
OUTER_UPPER_LIP = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
OUTER_LOWER_LIP = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
RIGHT_EYE_CORNERS, LEFT_EYE_CORNERS = (33, 133), (362, 263)  # subject's right eye is on the image left
RIGHT_IRIS, LEFT_IRIS = tuple(range(468, 473)), tuple(range(473, 478))  # centre, then four points on the rim
# Lid margins, corner to corner (outer to inner for the right eye, inner to outer for the left).
RIGHT_UPPER_LID = (33, 246, 161, 160, 159, 158, 157, 173, 133)
RIGHT_LOWER_LID = (33, 7, 163, 144, 145, 153, 154, 155, 133)
LEFT_UPPER_LID = (362, 398, 384, 385, 386, 387, 388, 466, 263)
LEFT_LOWER_LID = (362, 382, 381, 380, 374, 373, 390, 249, 263)
# Points that barely move with expression: eye corners, nose bridge and tip, temples.
STABLE_POINTS = (33, 133, 362, 263, 168, 6, 197, 195, 5, 4, 1, 127, 356, 234, 454)


class MeshError(ValueError):
    pass


@contextmanager
def _quiet_native_stderr():
    """MediaPipe's graph writes glog/TFLite lines to fd 2 before logging can be configured."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _protobuf_compat() -> None:
    """mediapipe 0.10.21's bindings call MessageFactory.GetPrototype, which protobuf 5+ renamed."""
    from google.protobuf import message_factory

    if not hasattr(message_factory.MessageFactory, "GetPrototype"):
        message_factory.MessageFactory.GetPrototype = lambda self, descriptor: message_factory.GetMessageClass(
            descriptor)


_lock = threading.Lock()


@lru_cache(maxsize=1)
def _face_mesh():
    os.environ.setdefault("GLOG_minloglevel", "2")
    _protobuf_compat()
    try:
        with _quiet_native_stderr(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # its graph setup uses a deprecated protobuf API
            from mediapipe.python.solutions import face_mesh

            return face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True, max_num_faces=1,
                                      min_detection_confidence=0.3)
    except (ImportError, AttributeError) as exc:
        raise MeshError(f"MediaPipe's face mesh is not available ({exc}); "
                        "pip install --no-deps mediapipe==0.10.21 (later releases ship no face_mesh model)") from exc


def detect_mesh(image: np.ndarray) -> np.ndarray:
    """(478, 3) mesh points of the most prominent face in an RGB uint8 image, in pixels."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise MeshError(f"need an RGB uint8 image, got shape {image.shape} {image.dtype}")
    height, width = image.shape[:2]
    mesh = _face_mesh()
    with _lock, _quiet_native_stderr():  # one graph, not re-entrant
        result = mesh.process(np.ascontiguousarray(image))
    if not result.multi_face_landmarks:
        raise MeshError("no face mesh found")
    points = np.array([(p.x, p.y, p.z) for p in result.multi_face_landmarks[0].landmark], np.float64)
    if len(points) != MESH_POINTS:
        raise MeshError(f"face mesh has {len(points)} points, expected {MESH_POINTS}")
    return points * np.array([width, height, width])


def inter_ocular(points: np.ndarray) -> float:
    """Distance between the eye centres (mean of the two corners of each eye), in pixels."""
    right = points[list(RIGHT_EYE_CORNERS), :2].mean(0)
    left = points[list(LEFT_EYE_CORNERS), :2].mean(0)
    return float(np.linalg.norm(left - right))


def head_pose(points: np.ndarray, frontal: np.ndarray) -> tuple[float, float, float]:
    """(pitch, yaw, roll) in degrees of a detected mesh against a frontal reference mesh of the same
    478 points (both x right, y down, z towards the camera negative), by a least-squares rotation."""
    a = frontal - frontal.mean(0)
    b = points - points.mean(0)
    a /= np.linalg.norm(a)
    b /= np.linalg.norm(b)
    u, _, vt = np.linalg.svd(a.T @ b)
    d = np.sign(np.linalg.det(u @ vt))
    rotation = (u @ np.diag([1.0, 1.0, d]) @ vt).T  # maps frontal -> detected
    yaw = np.degrees(np.arcsin(np.clip(-rotation[2, 0], -1.0, 1.0)))
    pitch = np.degrees(np.arctan2(rotation[2, 1], rotation[2, 2]))
    roll = np.degrees(np.arctan2(rotation[1, 0], rotation[0, 0]))
    return float(pitch), float(yaw), float(roll)
