"""Appearance that follows from a mesh warp: the mouth interior behind parted lips, and skin folds
where the warp compresses skin. Colours and contrast come from the face itself and every size is
in units of the face's inter-ocular distance (IOD), so the same code serves 64 px and 1024 px,
grey and colour images.
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from components.common.face_mesh import INNER_LOWER_LIP, INNER_UPPER_LIP, OUTER_LOWER_LIP, OUTER_UPPER_LIP

SUPERSAMPLE = 4  # masks are drawn at 4x and averaged down: anti-aliased edges


def _mask(shape: tuple[int, int], polygon: np.ndarray, feather: float) -> np.ndarray:
    h, w = shape
    big = np.zeros((h * SUPERSAMPLE, w * SUPERSAMPLE), np.uint8)
    cv2.fillPoly(big, [np.round(polygon * SUPERSAMPLE).astype(np.int32)], 255, cv2.LINE_AA)
    mask = cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    if feather > 0.3:
        mask = cv2.GaussianBlur(mask, (0, 0), feather)
    return mask


def _lip_colour(crop: np.ndarray, mesh: np.ndarray) -> np.ndarray:
    """Median colour of the lips (between the outer and inner contours) in the unedited crop."""
    outer = np.vstack([mesh[list(OUTER_UPPER_LIP)], mesh[list(OUTER_LOWER_LIP)][::-1]])
    inner = np.vstack([mesh[list(INNER_UPPER_LIP)], mesh[list(INNER_LOWER_LIP)][::-1]])
    lips = np.zeros(crop.shape[:2], np.uint8)
    cv2.fillPoly(lips, [np.round(outer).astype(np.int32)], 1)
    cv2.fillPoly(lips, [np.round(inner).astype(np.int32)], 0)
    pixels = crop[lips > 0]
    if len(pixels) < 4:
        pixels = crop[lips.shape[0] // 2 - 1: lips.shape[0] // 2 + 1].reshape(-1, 3)
    return np.median(pixels.astype(np.float32), axis=0)


def mouth_polygon(mesh: np.ndarray) -> np.ndarray:
    """The inner lip contour as one closed polygon."""
    return np.vstack([mesh[list(INNER_UPPER_LIP)], mesh[list(INNER_LOWER_LIP)][::-1][1:-1]])


def mouth_mask(shape: tuple[int, int], mesh: np.ndarray, iod: float) -> np.ndarray:
    return _mask(shape, mouth_polygon(mesh), 0.012 * iod)


# Facing pairs of inner-lip points (upper, lower), excluding the shared corners.
_LIP_PAIRS = tuple(zip(INNER_UPPER_LIP[1:-1], INNER_LOWER_LIP[1:-1]))


def lip_gap(mesh: np.ndarray) -> float:
    """Mean opening between the inner lips, in pixels (0 for closed or pressed lips)."""
    upper, lower = zip(*_LIP_PAIRS)
    return float(np.clip(mesh[list(lower), 1] - mesh[list(upper), 1], 0.0, None).mean())


OPEN_LIPS = 0.06  # IOD: below this gap the lips are (nearly) a seam, with no mouth interior worth keeping


CHEEKS = (50, 280, 205, 425, 187, 411)  # mesh points on both cheeks: the face's skin in its own light


def _skin_level(crop: np.ndarray, mesh: np.ndarray) -> float:
    h, w = crop.shape[:2]
    pts = np.clip(np.round(mesh[list(CHEEKS)]).astype(int), 0, [w - 1, h - 1])
    return float(np.median(crop[pts[:, 1], pts[:, 0]].astype(np.float32).mean(1)))


def _tongue_and_lower_teeth(colour: np.ndarray, t: np.ndarray, across: np.ndarray, gap: float, iod: float,
                            lip: np.ndarray, teeth_colour: np.ndarray, feather: float) -> np.ndarray:
    """A dropped jaw shows the tongue low in the middle and the lower teeth's edge along the lower lip."""
    lower_teeth = np.clip((t - (1.0 - 0.05 * iod / gap)) / 0.05, 0.0, 1.0) * (across < 0.6)
    tongue = np.clip((t - 0.6) / 0.25, 0.0, 1.0) * np.clip(1.0 - across / 0.8, 0.0, 1.0)
    colour = colour * (1 - tongue[..., None] * 0.8) + lip * 0.6 * (tongue[..., None] * 0.8)
    lower_teeth = cv2.GaussianBlur(lower_teeth.astype(np.float32), (0, 0), max(0.4, feather))
    return colour * (1 - 0.6 * lower_teeth[..., None]) + teeth_colour * 0.6 * (0.6 * lower_teeth[..., None])


def paint_mouth(image: np.ndarray, crop: np.ndarray, src: np.ndarray, dst: np.ndarray, iod: float,
                kept: np.ndarray | float = 0.0) -> np.ndarray:
    """Fill the opening between the edited inner lips: a shaded cavity, upper teeth below the upper lip,
    lower teeth and a tongue when the jaw is well down. `kept` (0-1) marks pixels the warp carried
    over from a mouth that was already open (real teeth stay real)."""
    upper, lower = dst[list(INNER_UPPER_LIP)], dst[list(INNER_LOWER_LIP)]
    width = float(np.linalg.norm(upper[-1] - upper[0]))
    gap = lip_gap(dst)
    if gap - lip_gap(src) < 0.015 * iod:
        return image
    # Work in a box around the opening only.
    margin = 0.1 * iod
    h, w = image.shape[:2]
    x0, y0 = np.clip(np.floor(dst[list(INNER_UPPER_LIP + INNER_LOWER_LIP)].min(0) - margin), 0, [w, h]).astype(int)
    x1, y1 = np.clip(np.ceil(dst[list(INNER_UPPER_LIP + INNER_LOWER_LIP)].max(0) + margin), 0, [w, h]).astype(int)
    if x1 <= x0 or y1 <= y0:
        return image
    offset = np.array([x0, y0], float)
    upper, lower = upper - offset, lower - offset
    feather = 0.012 * iod
    kept_box = kept[y0:y1, x0:x1] if isinstance(kept, np.ndarray) else kept
    mask = _mask((y1 - y0, x1 - x0), mouth_polygon(dst - offset), feather) * (1.0 - kept_box)
    ys, xs = np.mgrid[0:y1 - y0, 0:x1 - x0].astype(np.float32)
    up_order, low_order = np.argsort(upper[:, 0]), np.argsort(lower[:, 0])
    top = np.interp(xs, upper[up_order, 0], upper[up_order, 1])
    bottom = np.interp(xs, lower[low_order, 0], lower[low_order, 1])
    t = np.clip((ys - top) / np.maximum(bottom - top, 1e-3), 0.0, 1.0)  # 0 at the upper lip, 1 at the lower
    centre_x = (upper[0, 0] + upper[-1, 0]) / 2
    across = np.clip(np.abs(xs - centre_x) / max(width / 2, 1.0), 0.0, 1.0)  # 0 mid-mouth, 1 at the corners

    lip = _lip_colour(crop, src)
    brightness = float(np.clip(_skin_level(crop, src) / 190.0, 0.35, 1.2))
    # Cavity: the lip's own hue, far darker, darkest in the middle of the opening (furthest back).
    depth = np.sin(np.pi * t) * (1.0 - 0.5 * across)
    cavity = lip[None, None, :] * (0.22 - 0.16 * depth[..., None])
    colourful = float(np.ptp(lip)) > 6.0
    warm = np.array([1.0, 0.95, 0.86]) if colourful else np.ones(3)  # teeth are ivory; grey stays grey
    # Upper teeth: shown where the upper lip rose or the jaw opened; in the face's light, shaded to the corners.
    # A widening mouth (lip corners drawn back, as in a smile or lip stretch) bares more of them.
    src_width = float(np.linalg.norm(src[INNER_UPPER_LIP[-1]] - src[INNER_UPPER_LIP[0]]))
    widening = max(0.0, width / max(src_width, 1.0) - 1.0)
    share = float(np.clip(0.35 + 2.5 * widening, 0.35, 0.6))
    lift = max(0.0, float(src[13, 1] - dst[13, 1])) + 0.35 * gap
    teeth_height = min(share * gap, 0.02 * iod + 0.35 * lift + share * gap * widening * 4, 0.11 * iod)
    teeth_t = teeth_height / max(gap, 1.0)
    teeth_colour = np.minimum(205.0 * brightness * warm, 240.0)  # teeth sit in the mouth's shade
    shade = (1.0 - 0.55 * across ** 2) * (1.0 - 0.25 * np.clip(t / max(teeth_t, 1e-3), 0, 1))
    teeth = np.clip(1.0 - (t - teeth_t) / max(0.15 * teeth_t, 1e-3), 0.0, 1.0) * (across < 0.92)
    teeth = cv2.GaussianBlur(teeth.astype(np.float32), (0, 0), max(0.4, feather))
    colour = cavity * (1 - teeth[..., None]) + (teeth_colour[None, None, :] * shade[..., None]) * teeth[..., None]
    if float(dst[14, 1] - src[14, 1]) > 0.12 * iod:  # the jaw is well down: lower teeth edge and tongue show
        colour = _tongue_and_lower_teeth(colour, t, across, gap, iod, lip, teeth_colour, feather)
    box = image[y0:y1, x0:x1].astype(np.float32) * (1 - mask[..., None]) + colour * mask[..., None]
    out = image.copy()
    out[y0:y1, x0:x1] = np.clip(box + 0.5, 0, 255).astype(np.uint8)
    return out


@lru_cache(maxsize=8)
def _smooth_noise(shape: tuple[int, int], cells: tuple[int, int], seed: int) -> np.ndarray:
    """A smooth random field in [0, 1] of `cells` random values interpolated up to `shape` (cached)."""
    coarse = np.random.default_rng(seed).random(cells).astype(np.float32)
    noise = cv2.resize(coarse, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC).clip(0, 1)
    noise.setflags(write=False)
    return noise


FOLD_GAIN = 6.0  # darkening of a fold's valley per unit compression and unit local contrast


def fold_shading(image: np.ndarray, ratio: np.ndarray, iod: float, strength: float = 1.0,
                 seed: int = 0) -> np.ndarray:
    """Shade skin where the warp compressed it (triangle area ratio < 1), by the face's own contrast.

    Compressed skin buckles: a valley along the middle of the compressed band, lit ridges beside it
    (a difference of Gaussians of the compression), varying irregularly along its length, so it
    reads as a fold, never as a drawn or evenly spaced stripe."""
    compression = np.clip(1.0 - ratio, 0.0, 0.6)
    if float(compression.max()) < 0.03:
        return image
    # Folds are smooth: compute them where the IOD is ~64 px and scale the result back up.
    h, w = image.shape[:2]
    scale = min(1.0, 64.0 / iod)
    small = (max(2, round(w * scale)), max(2, round(h * scale)))
    unit = iod * scale
    grey = cv2.resize(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), small, interpolation=cv2.INTER_AREA).astype(np.float32)
    # The area ratio is constant per triangle: smooth the triangles away before looking for folds.
    squeezed = cv2.GaussianBlur(cv2.resize(compression, small, interpolation=cv2.INTER_AREA), (0, 0),
                                max(0.5, 0.035 * unit))
    valley = cv2.GaussianBlur(squeezed, (0, 0), max(0.5, 0.025 * unit)) - \
        cv2.GaussianBlur(squeezed, (0, 0), max(1.0, 0.08 * unit))
    mean = cv2.GaussianBlur(grey, (0, 0), 0.15 * unit)
    local_contrast = np.sqrt(np.maximum(cv2.GaussianBlur(grey ** 2, (0, 0), 0.15 * unit) - mean ** 2, 0.0))
    contrast = np.clip(local_contrast / np.maximum(mean, 1.0), 0.05, 0.25)
    feature = 0.1 * unit  # the fold's irregularity along its length, ~0.1 IOD across
    cells = (max(2, int(grey.shape[0] / feature) + 2), max(2, int(grey.shape[1] / feature) + 2))
    irregular = 0.7 + 0.6 * _smooth_noise(grey.shape, cells, seed)
    shade = strength * FOLD_GAIN * np.where(valley > 0, valley, 0.15 * valley) * contrast * irregular
    shade = cv2.resize(shade, (w, h), interpolation=cv2.INTER_LINEAR).clip(-0.15, 0.45)
    shade[np.abs(shade) < 0.004] = 0.0  # leave untouched skin bit-exact
    # Scaling R, G and B together darkens without shifting hue (and keeps grey faces grey).
    return np.clip(image.astype(np.float32) * (1.0 - shade[..., None]) + 0.5, 0, 255).astype(np.uint8)
