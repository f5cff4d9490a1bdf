"""Piecewise-affine maps over a face mesh: the triangulation, point location, and the backward maps that
cv2.remap draws a warp with (mesh points moved from `src` to `dst`), evaluated on a coarse grid around the
face. Used by the warp itself and by anything laid onto a face in another face's geometry (ratio images)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np
from scipy.spatial import Delaunay


@dataclass
class WarpGrid:
    """Where the warp is evaluated for one face: every `step` pixels in a box around the face."""
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (inclusive)
    points: np.ndarray  # (n, 2) coarse grid nodes
    coarse_shape: tuple[int, int]
    fine_x: np.ndarray  # coarse-grid coordinates of every pixel in the box (for cv2.remap)
    fine_y: np.ndarray


def warp_ring(mesh: np.ndarray, size: tuple[int, int], grow: float = 1.35, count: int = 24) -> np.ndarray:
    centre = mesh[:, :2].mean(0)
    radius = np.abs(mesh[:, :2] - centre).max(0) * grow
    angles = np.linspace(0, 2 * np.pi, count, endpoint=False)
    return centre + np.stack([np.cos(angles) * radius[0], np.sin(angles) * radius[1]], 1)


def image_corners(size: tuple[int, int]) -> np.ndarray:
    h, w = size
    return np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], float)


def triangulate(points: np.ndarray) -> Delaunay:
    """Delaunay triangulation of 2-D points, ready for point location.

    scipy computes the barycentric transforms that `find_simplex` needs one simplex at a time, with a
    condition check each: 2.4 ms of a 128 px edit's 8 ms for a face's ~1000 triangles. The same
    transforms in one vectorised step take 0.15 ms; where a scipy release no longer keeps them in
    `_transform`, scipy computes its own (tests/test_mesh_warp.py compares the two)."""
    tri = Delaunay(points)
    if hasattr(tri, "_transform"):
        tri._transform = barycentric_transforms(tri.points, tri.simplices)
    return tri


def barycentric_transforms(points: np.ndarray, simplices: np.ndarray) -> np.ndarray:
    """scipy's `Delaunay.transform` layout: per triangle, the inverse of [v0 - v2, v1 - v2] (columns)
    and v2; NaN for a degenerate (flat) triangle."""
    corners = points[simplices]
    last = corners[:, 2]
    t = (corners[:, :2] - last[:, None]).transpose(0, 2, 1)
    det = t[:, 0, 0] * t[:, 1, 1] - t[:, 0, 1] * t[:, 1, 0]
    inverse = np.stack([np.stack([t[:, 1, 1], -t[:, 0, 1]], -1), np.stack([-t[:, 1, 0], t[:, 0, 0]], -1)], 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        inverse = inverse / det[:, None, None]
    out = np.concatenate([inverse, last[:, None]], 1)
    out[np.abs(det) <= np.finfo(float).eps * np.abs(t).max((1, 2)) ** 2] = np.nan
    return out


def locate(tri: Delaunay, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each point as (3 vertex indices, 3 barycentric weights) of its triangle; points outside the
    triangulation get weight 0 everywhere."""
    return _barycentric(tri, tri.find_simplex(points), points)


def _barycentric(tri: Delaunay, simplex: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    inside = simplex >= 0
    t = tri.transform[np.where(inside, simplex, 0)]
    bary2 = np.einsum("nij,nj->ni", t[:, :2], points - t[:, 2])
    weights = np.hstack([bary2, 1 - bary2.sum(1, keepdims=True)]) * inside[:, None]
    return tri.simplices[np.where(inside, simplex, 0)], weights


def warp_grid(ring: np.ndarray, shape: tuple[int, int], across: int = 96) -> WarpGrid:
    h, w = shape
    x0, y0 = np.clip(np.floor(ring.min(0)), 0, [w - 1, h - 1]).astype(int)
    x1, y1 = np.clip(np.ceil(ring.max(0)), 0, [w - 1, h - 1]).astype(int)
    step = max(2, int(round(max(h, w) / across)))  # the field is smooth: ~100 nodes across the face suffice
    xs = np.arange(x0, x1 + step, step, dtype=np.float64)
    ys = np.arange(y0, y1 + step, step, dtype=np.float64)
    gx, gy = np.meshgrid(xs, ys)
    fine_x, fine_y = np.meshgrid((np.arange(x0, x1 + 1, dtype=np.float32) - x0) / step,
                                 (np.arange(y0, y1 + 1, dtype=np.float32) - y0) / step)
    return WarpGrid((x0, y0, x1, y1), np.stack([gx.ravel(), gy.ravel()], 1), (len(ys), len(xs)), fine_x, fine_y)


class GridOnMesh(NamedTuple):
    """A warp grid's nodes located in the Delaunay triangles of the points they are drawn over (`dst`)."""
    tri: Delaunay
    simplex: np.ndarray
    vertices: np.ndarray
    weights: np.ndarray


def grid_on_mesh(dst: np.ndarray, grid: WarpGrid) -> GridOnMesh:
    """The search costs most of a map: done once, it serves every map drawn over the same points."""
    tri = triangulate(dst)
    simplex = tri.find_simplex(grid.points)
    return GridOnMesh(tri, simplex, *_barycentric(tri, simplex, grid.points))


def backward_map(src: np.ndarray, dst: np.ndarray, shape: tuple[int, int], grid: WarpGrid,
                 located: GridOnMesh | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """cv2.remap maps (output pixel -> source pixel) that move dst points onto src points,
    piecewise-affine over the Delaunay triangulation of dst, evaluated on the grid and interpolated
    in between; identity outside the grid's box. Also returns the triangle area ratio per pixel
    (destination / source area: < 1 where the skin is compressed). `located`: `grid_on_mesh(dst, grid)`,
    if already at hand."""
    h, w = shape
    x0, y0, x1, y1 = grid.box
    tri, simplex, vertices, weights = located or grid_on_mesh(dst, grid)
    inside = simplex >= 0
    mapped = np.where(inside[:, None], np.einsum("ni,nij->nj", weights, src[vertices]), grid.points)
    area_src = np.abs(signed_areas(src[tri.simplices]))
    ratio_tri = np.where(area_src > 1e-6, np.abs(signed_areas(dst[tri.simplices])) / np.maximum(area_src, 1e-6), 1.0)
    ratio = np.where(inside, ratio_tri[simplex], 1.0)
    disp = (mapped - grid.points).reshape(*grid.coarse_shape, 2).astype(np.float32)
    disp[np.abs(disp) < 1e-3] = 0.0  # pinned skin stays bit-exact
    map_x, map_y = _identity_maps(h, w)
    for channel, target in ((disp[..., 0], map_x), (disp[..., 1], map_y)):
        target[y0:y1 + 1, x0:x1 + 1] += cv2.remap(channel, grid.fine_x, grid.fine_y, cv2.INTER_LINEAR,
                                                  borderMode=cv2.BORDER_REPLICATE)
    full_ratio = np.ones((h, w), np.float32)
    full_ratio[y0:y1 + 1, x0:x1 + 1] = cv2.remap(ratio.reshape(grid.coarse_shape).astype(np.float32), grid.fine_x,
                                                 grid.fine_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return map_x, map_y, full_ratio


def _identity_maps(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    map_x, map_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return map_x, map_y


def signed_areas(triangles: np.ndarray) -> np.ndarray:
    """Twice each (k, 3, 2) triangle's area, its sign its orientation: a triangle whose sign a warp changes is
    turned over (the skin there drawn mirrored)."""
    a, b, c = triangles[:, 0], triangles[:, 1], triangles[:, 2]
    return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])

