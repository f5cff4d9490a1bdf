"""Hair over the forehead (a fringe, a hat pulled low): found once per face, it lies over the skin the brows move.

The brows carry the forehead above them (`mesh_fields.BROW_SPREAD_UP_IOD`), and MediaPipe's mesh reaches up
over a fringe as if it were skin. Carried with the skin, a fringe was lifted off raised inner brows (a pale streak
of skin in the hair) and dragged down over lowered ones in dark streaks. A fringe is not skin: the skin slides
up under it and is hidden, and it is never pulled down.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .mesh_appearance import CHEEKS, polygon_mask
from .mesh_fields import nearest_distance, outline_moved, smoothstep

# How much darker than the cheeks' skin (Lab lightness, 0-255) hair is: below the first it is skin, beyond the
# second hair. Studio light makes a bare forehead brighter than the cheeks, often by more than these (CK+), so
# only darker counts; brown, blond and dark fringes are 40-170 darker. Grey and white hair are not found (and
# move with the skin, as before).
HAIR_DARKER = (25.0, 40.0)
# The brows are hair too: only hair this far above their upper edge, and as far from any of their points, can be a
# fringe (the frames of glasses flare up beside a brow's tail).
CLEAR_OF_BROWS_IOD = (0.04, 0.1)
UPPER_BROWS = (70, 63, 105, 66, 107, 336, 296, 334, 293, 300)  # MediaPipe: each brow's upper edge
BROW_POINTS = UPPER_BROWS + (46, 53, 52, 65, 55, 285, 295, 282, 283, 276)
SAMPLE_BLUR_IOD = 0.02  # a colour is its neighbourhood's: single hairs and pores aside
EDGE_BLUR_IOD = 0.006  # the fringe's edge over the skin: soft, as hair's is
EDGE_IOD = 0.015  # and how far that soft edge reaches beyond the hair's own pixels
# Lightness change across a dark region's rim over EDGE_SPAN_IOD (its median along the rim): a forehead turning
# away from the light at most the first, the edge of hair at least the second. On 14 real faces: the astronaut's
# fringe 16.5, a hat 35, hairlines 6-25, a forehead's shaded sides merged with the hair beside them 4.5-6. On the
# demo's blurry GAN faces, fringes and shade both measure 2-7: left alone there (they move with the skin).
EDGE_SPAN_IOD = 0.02
HAIR_EDGE = (8.0, 10.0)
# Only hair that falls over the face (at least the first area inside its outline, all of it from the second, in
# IOD squared) is a fringe; a hairline that only borders the face is not. Held while the forehead rose under it,
# a hairline made the forehead shorter (surprise's identity distance 0.440 -> 0.451 on 14 real faces,
# `benchmarks/identity_kept.py`), where the brows' fields barely reach it. The astronaut's fringe covers 0.33 of
# her face, the 14 real faces' hairlines at most 0.04, two of 30 GAN faces' fringes 0.09 and 0.30.
INSIDE_OUTLINE_IOD = 0.05
OVER_THE_FACE_IOD2 = (0.06, 0.1)


@dataclass(frozen=True)
class Fringe:
    """Hair over the forehead: per mesh point how surely it lies in it (0-1), and its coverage of the crop's
    pixels (0-1) within `box` (x0, y0, x1, y1; None where there is none)."""
    at_points: np.ndarray
    coverage: np.ndarray | None
    box: tuple[int, int, int, int] | None


def find_fringe(crop: np.ndarray, mesh: np.ndarray, iod: float) -> Fringe:
    """The hair over the forehead of a face (`mesh`: MediaPipe's points, (n, 2) pixels). Judged by lightness
    alone, so grey crops work alike."""
    h, w = crop.shape[:2]
    lightness = _lightness(crop, SAMPLE_BLUR_IOD * iod)
    at = np.clip(np.round(mesh).astype(int), 0, [w - 1, h - 1])
    skin = float(np.median(lightness[at[list(CHEEKS), 1], at[list(CHEEKS), 0]]))
    upper = mesh[list(UPPER_BROWS)]
    upper = upper[np.argsort(upper[:, 0])]
    brows = mesh[list(BROW_POINTS)]

    def clear_of_brows(x: np.ndarray, y: np.ndarray, away: np.ndarray) -> np.ndarray:
        """0-1 per pixel or point: above the brows' upper edge and `away` (pixels) from their nearest point."""
        near, far = CLEAR_OF_BROWS_IOD
        return smoothstep((np.minimum(np.interp(x, upper[:, 0], upper[:, 1]) - y, away) / iod - near) / (far - near))

    def hair(light: np.ndarray, x: np.ndarray, y: np.ndarray, away: np.ndarray) -> np.ndarray:
        """0-1 per pixel or point: dark as hair (`light`), and clear of the brows."""
        low, high = HAIR_DARKER
        return smoothstep((skin - light - low) / (high - low)) * clear_of_brows(x, y, away)

    away = nearest_distance(mesh, brows)
    at_points = hair(lightness[at[:, 1], at[:, 0]], mesh[:, 0], mesh[:, 1], away)
    if not (at_points > 0).any():
        return Fringe(at_points, None, None)
    # The pixels: from above the mesh to the lowest brow point, over the forehead's width.
    x0, y0 = int(max(0, np.floor(mesh[:, 0].min()))), int(max(0, np.floor(mesh[:, 1].min() - 0.3 * iod)))
    x1, y1 = int(min(w - 1, np.ceil(mesh[:, 0].max()))), int(min(h - 1, np.ceil(brows[:, 1].max())))
    box_lightness = _lightness(crop[y0:y1 + 1, x0:x1 + 1], EDGE_BLUR_IOD * iod)
    not_brow = np.ones(box_lightness.shape, np.uint8)
    for x, y in np.round(brows - [x0, y0]).astype(int):
        if 0 <= x <= x1 - x0 and 0 <= y <= y1 - y0:
            not_brow[y, x] = 0
    box_away = cv2.distanceTransform(not_brow, cv2.DIST_L2, 5) if (not_brow == 0).any() else \
        np.full(not_brow.shape, np.inf, np.float32)
    xs, ys = np.meshgrid(np.arange(x0, x1 + 1, dtype=np.float32), np.arange(y0, y1 + 1, dtype=np.float32))
    coverage = hair(box_lightness, xs, ys, box_away).astype(np.float32)
    regions = _hair_regions(coverage, box_lightness, _over_the_face(mesh, iod, (x0, y0), coverage.shape), iod)
    inside = (at[:, 0] >= x0) & (at[:, 0] <= x1) & (at[:, 1] >= y0) & (at[:, 1] <= y1)
    in_hair = np.zeros(len(mesh), np.float32)
    in_hair[inside] = regions[at[inside, 1] - y0, at[inside, 0] - x0]
    coverage = _at_least(_with_its_edge(coverage * regions, iod), 0.01)  # a blurred tail is not hair
    if not (coverage > 0).any():
        return Fringe(np.zeros(len(mesh), np.float32), None, None)
    # Every point in a fringe's region is held, the skin along its edge included: half held, an edge point pulled
    # the hair's edge down under the laid-over one.
    return Fringe(_at_least(in_hair * clear_of_brows(mesh[:, 0], mesh[:, 1], away), 0.01), coverage, (x0, y0, x1, y1))


def _with_its_edge(coverage: np.ndarray, iod: float) -> np.ndarray:
    """`coverage` reaching EDGE_IOD further out, fading: a fringe's soft edge is lighter than hair, and left to the
    warp it was pulled down under the laid-over fringe as a second, ragged edge (anger)."""
    solid = (coverage > 0.5).astype(np.float32)
    return np.maximum(coverage, np.clip(2.0 * cv2.GaussianBlur(solid, (0, 0), max(0.5, EDGE_IOD * iod)), 0.0, 1.0))


def _at_least(weights: np.ndarray, floor: float) -> np.ndarray:
    """`weights` with those under `floor` set to 0."""
    return np.where(weights < floor, 0.0, weights).astype(np.float32)


def _over_the_face(mesh: np.ndarray, iod: float, offset: tuple[int, int], shape: tuple[int, int]) -> np.ndarray:
    """0-1 per pixel of a box at `offset` (x, y): inside the face's outline by INSIDE_OUTLINE_IOD."""
    return polygon_mask(shape, outline_moved(mesh, -INSIDE_OUTLINE_IOD * iod) - np.array(offset, float), 0.01 * iod)


def _lightness(image: np.ndarray, blur: float) -> np.ndarray:
    """Lab lightness (0-255) of `image` blurred by `blur` pixels."""
    return cv2.cvtColor(cv2.GaussianBlur(image, (0, 0), max(0.5, blur)), cv2.COLOR_RGB2LAB)[..., 0].astype(np.float32)


def _hair_regions(coverage: np.ndarray, lightness: np.ndarray, over_the_face: np.ndarray, iod: float) -> np.ndarray:
    """Per pixel, 0-1: whether the dark region it belongs to is a fringe. Hair hangs from the scalp (a hat sits on
    it): its region reaches the box's top row, where the frames of glasses float on the skin. Hair ends in an
    edge: a forehead turning away from the light darkens as much, but over a smooth ramp. And a fringe falls over
    the face (`over_the_face`: 0-1 per pixel), where a hairline only borders it."""
    count, labels = cv2.connectedComponents((coverage > 0.5).astype(np.uint8), connectivity=8)
    if count < 2:
        return np.zeros_like(coverage)
    step = np.hypot(cv2.Sobel(lightness, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(lightness, cv2.CV_32F, 0, 1, ksize=3))
    step *= EDGE_SPAN_IOD * iod / 8.0  # lightness change over EDGE_SPAN_IOD (Sobel's 3x3 sums 8 differences)
    region = labels > 0
    rim = region & ~cv2.erode(region.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    rim[[0, -1]], rim[:, [0, -1]] = False, False  # the box's own edges are not the hair's
    weight = np.zeros(count, np.float32)
    for label in np.unique(labels[0][labels[0] > 0]):
        edge = step[rim & (labels == label)]
        sharpness = float(np.median(edge)) if len(edge) else 0.0
        low, high = HAIR_EDGE
        area = float(over_the_face[labels == label].sum()) / iod ** 2
        least, full = OVER_THE_FACE_IOD2
        weight[label] = np.clip((sharpness - low) / (high - low), 0.0, 1.0) * smoothstep((area - least) / (full - least))
    regions = weight[labels]
    return cv2.dilate(regions, np.ones((5, 5), np.uint8))  # and their soft edges


def keep_off_the_skin(moves: np.ndarray, fringe: Fringe) -> np.ndarray:
    """Mesh `moves` (pixels) with the fringe's points never moving down: skin may rise or slide under the hair
    (`lay_over` hides it), but skin from under the hair may not be pulled down, bringing the hair onto the brows."""
    held = moves.copy()
    held[:, 1] -= fringe.at_points * np.maximum(moves[:, 1], 0.0)
    return held


def lay_over(image: np.ndarray, crop: np.ndarray, fringe: Fringe) -> np.ndarray:
    """The edited `image` with the unedited crop's fringe laid back over it: skin that rose under the hair is
    hidden by it, as it is on a real face."""
    if fringe.coverage is None:
        return image
    x0, y0, x1, y1 = fringe.box
    alpha = fringe.coverage[..., None]
    out = image.copy()
    region = out[y0:y1 + 1, x0:x1 + 1].astype(np.float32)
    out[y0:y1 + 1, x0:x1 + 1] = np.clip(region * (1 - alpha) + crop[y0:y1 + 1, x0:x1 + 1] * alpha + 0.5,
                                        0, 255).astype(np.uint8)
    return out
