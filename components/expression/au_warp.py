"""The `au_warp` editor: FACS action units as landmark moves, a dense warp, and texture.

For each AU, a table gives how the 68 landmarks move at intensity 1, in units of the
inter-ocular distance (IOD) of the face, with x measured outwards from the face's
midline so one entry serves both sides. The moves of all requested AUs are summed,
the crop is warped by a thin-plate spline through the moved landmarks (crop border
pinned), an opening mouth gets a dark cavity instead of stretched skin, and each AU
adds its appearance layer (furrows, folds, wrinkles, highlights) drawn at the moved
landmarks and blended into luminance. Geometry alone leaves sad and anger
unrecognisable: they live in texture (brow furrow of AU4, nasolabial folds of
AU9/AU10, lid shading of AU7, chin boss of AU17).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from components.common.landmarks import (INNER_LIP_PAIRS, INNER_LIPS, INNER_LOWER_LIP, INNER_UPPER_LIP, OUTER_LIPS,
                                        eye_centres)

from .mesh_appearance import (Lips, Mouth, carried_ratio, keep_open_mouth, lay_ratio, paint_opening, pixels_between,
                              smooth_noise, teeth_for_skin)

# AU -> {landmark index: (dx outwards, dy down)} at intensity 1, in IOD units.
AU_MOVES: dict[int, dict[int, tuple[float, float]]] = {
    1: {21: (-0.01, -0.11), 22: (-0.01, -0.11), 20: (0.0, -0.08), 23: (0.0, -0.08), 19: (0.0, -0.04),
        24: (0.0, -0.04)},
    2: {17: (0.0, -0.10), 26: (0.0, -0.10), 18: (0.0, -0.10), 25: (0.0, -0.10), 19: (0.0, -0.06),
        24: (0.0, -0.06)},
    4: {21: (-0.05, 0.08), 22: (-0.05, 0.08), 20: (-0.03, 0.07), 23: (-0.03, 0.07), 19: (-0.01, 0.05),
        24: (-0.01, 0.05), 18: (0.0, 0.03), 25: (0.0, 0.03), 37: (0.0, 0.01), 38: (0.0, 0.015),
        43: (0.0, 0.015), 44: (0.0, 0.01)},
    5: {37: (0.0, -0.045), 38: (0.0, -0.045), 43: (0.0, -0.045), 44: (0.0, -0.045), 36: (0.0, -0.01),
        45: (0.0, -0.01)},
    6: {40: (0.0, -0.025), 41: (0.0, -0.025), 46: (0.0, -0.025), 47: (0.0, -0.025), 36: (0.0, -0.01),
        45: (0.0, -0.01), 1: (0.0, -0.02), 15: (0.0, -0.02)},
    7: {40: (0.0, -0.035), 41: (0.0, -0.035), 46: (0.0, -0.035), 47: (0.0, -0.035), 37: (0.0, 0.02),
        38: (0.0, 0.02), 43: (0.0, 0.02), 44: (0.0, 0.02)},
    9: {31: (0.01, -0.035), 32: (0.0, -0.035), 33: (0.0, -0.035), 34: (0.0, -0.035), 35: (0.01, -0.035),
        50: (0.0, -0.025), 51: (0.0, -0.03), 52: (0.0, -0.025), 21: (0.0, 0.03), 22: (0.0, 0.03)},
    # FACS: AU10 draws the centre of the upper lip straight up and its outer parts a little less (an arch,
    # not an M). Outer parts at 64 % of the centre drew a tent over disgust's lowered corners; at 91 % the
    # arch is rounded, and the classifiers hold (README, "mesh_warp").
    10: {49: (0.0, -0.05), 50: (0.0, -0.055), 51: (0.0, -0.055), 52: (0.0, -0.055), 53: (0.0, -0.05),
         61: (0.0, -0.045), 62: (0.0, -0.05), 63: (0.0, -0.045)},
    12: {48: (0.07, -0.06), 54: (0.07, -0.06), 60: (0.06, -0.05), 64: (0.06, -0.05), 49: (0.03, -0.03),
         53: (0.03, -0.03), 59: (0.03, -0.02), 55: (0.03, -0.02), 50: (0.01, -0.01), 52: (0.01, -0.01)},
    14: {48: (0.02, -0.01), 54: (0.02, -0.01), 60: (0.015, 0.0), 64: (0.015, 0.0)},
    15: {48: (0.0, 0.06), 54: (0.0, 0.06), 60: (0.0, 0.05), 64: (0.0, 0.05), 59: (0.0, 0.02), 55: (0.0, 0.02),
         49: (0.0, 0.02), 53: (0.0, 0.02)},
    16: {56: (0.0, 0.05), 57: (0.0, 0.05), 58: (0.0, 0.05), 65: (0.0, 0.045), 66: (0.0, 0.045),
         67: (0.0, 0.045), 55: (0.0, 0.02), 59: (0.0, 0.02)},
    17: {7: (0.0, -0.04), 8: (0.0, -0.045), 9: (0.0, -0.04), 56: (0.0, -0.03), 57: (0.0, -0.035),
         58: (0.0, -0.03), 65: (0.0, -0.02), 66: (0.0, -0.02), 67: (0.0, -0.02)},
    20: {48: (0.08, 0.01), 54: (0.08, 0.01), 60: (0.07, 0.01), 64: (0.07, 0.01), 49: (0.04, 0.0),
         53: (0.04, 0.0), 59: (0.04, 0.0), 55: (0.04, 0.0)},
    23: {50: (0.0, 0.015), 51: (0.0, 0.015), 52: (0.0, 0.015), 56: (0.0, -0.015), 57: (0.0, -0.015),
         58: (0.0, -0.015), 48: (-0.02, 0.0), 54: (-0.02, 0.0), 60: (-0.02, 0.0), 64: (-0.02, 0.0)},
    24: {50: (0.0, 0.02), 51: (0.0, 0.02), 52: (0.0, 0.02), 61: (0.0, 0.01), 62: (0.0, 0.01), 63: (0.0, 0.01),
         56: (0.0, -0.02), 57: (0.0, -0.02), 58: (0.0, -0.02), 65: (0.0, -0.01), 66: (0.0, -0.01),
         67: (0.0, -0.01)},
    25: {65: (0.0, 0.06), 66: (0.0, 0.06), 67: (0.0, 0.06), 56: (0.0, 0.05), 57: (0.0, 0.05), 58: (0.0, 0.05),
         55: (0.0, 0.03), 59: (0.0, 0.03), 61: (0.0, -0.01), 62: (0.0, -0.01), 63: (0.0, -0.01)},
    26: {8: (0.0, 0.16), 7: (0.0, 0.14), 9: (0.0, 0.14), 6: (0.0, 0.10), 10: (0.0, 0.10), 5: (0.0, 0.06),
         11: (0.0, 0.06), 4: (0.0, 0.03), 12: (0.0, 0.03), 56: (0.0, 0.15), 57: (0.0, 0.15), 58: (0.0, 0.15),
         55: (0.0, 0.12), 59: (0.0, 0.12), 65: (0.0, 0.16), 66: (0.0, 0.16), 67: (0.0, 0.16),
         48: (-0.01, 0.04), 54: (-0.01, 0.04), 60: (-0.01, 0.04), 64: (-0.01, 0.04), 61: (0.0, -0.01),
         62: (0.0, -0.01), 63: (0.0, -0.01)},
}
SUPPORTED_AUS = tuple(sorted(AU_MOVES))

# The tables above are scaled by this so that intensity 1.0 is clearly visible but not caricatured:
# on 120 dcgan64 identities (intensities 0.9-1.0) the independent FER2013 mini-Xception's top-1
# for happy went 0.44 -> 0.64 and surprise 0.15 -> 0.34 from 1.0 to 1.6 (benchmarks/recognisability.py),
# while 2.2 started to look like caricature on the contact sheets.
CALIBRATION = 1.6
# Per-AU gain over the tables at edit time. The jaw (AU26) opens half as far again: with the chin dropping
# 0.26 IOD at intensity 1, the FER2013 classifier read surprise on 5 of 14 real faces, with 0.38 IOD on 11
# (fear 5 -> 10), and the second classifier held on real and GAN faces (README, "au_warp").
AU_GAIN = {26: 1.5}


@dataclass(frozen=True)
class Edit:
    image: np.ndarray  # edited crop, RGB uint8
    landmarks: np.ndarray  # (68, 2) where the landmarks were moved to


def face_frame(points: np.ndarray) -> tuple[float, float]:
    """(midline x, IOD) of a face in an aligned crop."""
    right, left = eye_centres(points)
    return float(points[27:31, 0].mean()), float(np.linalg.norm(left - right))


def image_side(subject_side: str) -> float:
    """+1 for the image's right half, -1 for its left: the subject's right is on the image left."""
    if subject_side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right' (the subject's), not {subject_side!r}")
    return 1.0 if subject_side == "left" else -1.0


def displaced_landmarks(points: np.ndarray, aus: dict[int, float], scale: float = 1.0,
                        only_side: str | None = None) -> np.ndarray:
    """Landmarks moved by the AU tables; `only_side` (the subject's left or right) for unilateral AUs."""
    unknown = sorted(set(aus) - set(AU_MOVES))
    if unknown:
        raise ValueError(f"action units {unknown} are not supported by au_warp (supported: {SUPPORTED_AUS})")
    midline, iod = face_frame(points)
    side = np.sign(points[:, 0] - midline)
    moved = points.copy()
    for au, intensity in aus.items():
        for index, (dx_out, dy) in AU_MOVES[au].items():
            if only_side and side[index] != image_side(only_side):
                continue
            moved[index, 0] += dx_out * side[index] * intensity * iod * scale
            moved[index, 1] += dy * intensity * iod * scale
    return moved


def lips_meet(points: np.ndarray, moved: np.ndarray) -> np.ndarray:
    """`moved` with lips that meet instead of passing through each other. AU17 and AU24 push the lower
    lip up: on closed lips, a lower-lip landmark landed on or above the upper one, and the thin-plate
    warp, asked to send one point to two places, folded the mouth into a curl. A pair keeps at least its
    old gap (up to 0.02 IOD); both lips give way by half."""
    _, iod = face_frame(points)
    moved = moved.copy()
    for upper, lower in INNER_LIP_PAIRS:
        floor = min(max(points[lower, 1] - points[upper, 1], 0.0), 0.02 * iod)
        short = floor - (moved[lower, 1] - moved[upper, 1])
        if short > 0:
            moved[upper, 1] -= short / 2
            moved[lower, 1] += short / 2
    return moved


# ---- dense warp -----------------------------------------------------------------------------------

def _tps_kernel(r2: np.ndarray) -> np.ndarray:
    return np.where(r2 > 0, r2 * np.log(np.maximum(r2, 1e-12)), 0.0)


def thin_plate_map(dst: np.ndarray, src: np.ndarray, size: int, step: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Backward maps (map_x, map_y) for cv2.remap: output pixel -> source pixel, through the spline
    interpolating dst -> src, solved on a coarse grid and resized (a 32x32-ish grid is enough)."""
    n = len(dst)
    k = _tps_kernel(((dst[:, None, :] - dst[None, :, :]) ** 2).sum(-1))
    p = np.hstack([np.ones((n, 1)), dst])
    system = np.zeros((n + 3, n + 3))
    system[:n, :n] = k + 1e-6 * np.eye(n)
    system[:n, n:] = p
    system[n:, :n] = p.T
    rhs = np.zeros((n + 3, 2))
    rhs[:n] = src
    coef = np.linalg.solve(system, rhs)
    coarse = np.arange(0, size + step, step, dtype=np.float64)
    gx, gy = np.meshgrid(coarse, coarse)
    grid = np.stack([gx.ravel(), gy.ravel()], 1)
    u = _tps_kernel(((grid[:, None, :] - dst[None, :, :]) ** 2).sum(-1))
    mapped = u @ coef[:n] + coef[n] + grid @ coef[n + 1:]
    shape = (len(coarse), len(coarse))
    # Bilinear interpolation of the coarse maps that is exact at the grid nodes (x = step * i).
    fine = np.arange(size, dtype=np.float32) / step
    fx, fy = np.meshgrid(fine, fine)
    maps = [cv2.remap(mapped[:, i].reshape(shape).astype(np.float32), fx, fy, cv2.INTER_LINEAR)
            for i in range(2)]
    return maps[0], maps[1]


def border_anchors(size: int, per_side: int = 8) -> np.ndarray:
    t = np.linspace(0, size - 1, per_side, endpoint=False)
    last = size - 1
    return np.concatenate([np.stack([t, np.zeros_like(t)], 1), np.stack([np.full_like(t, last), t], 1),
                           np.stack([last - t, np.full_like(t, last)], 1), np.stack([np.zeros_like(t), last - t], 1)])


JAW_LINE = list(range(3, 14))  # 68-point jaw contour from below one ear to below the other
NECK_KEPT = 0.5  # a dropped chin may squeeze the band between it and the bottom edge to half, no further


def jaw_sliding_anchors(size: int, src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Border anchors (where they are in the output, where they sample in the input): pinned, except the
    bottom edge under a dropping jaw where too little room is left below the chin (aligned crops are
    tight: the chin sits near or beyond the edge). There the edge slides down too, and the neck leaves
    the frame. Pinned, the dropped chin folded the skin over itself against the edge: a dark drip."""
    anchors = border_anchors(size)
    bottom = anchors[:, 1] == size - 1
    jaw = src[JAW_LINE]
    order = np.argsort(jaw[:, 0])
    x = anchors[bottom, 0]
    drop = np.clip(np.interp(x, jaw[order, 0], (dst - src)[JAW_LINE, 1][order], left=0.0, right=0.0), 0.0, None)
    room = size - 1 - np.interp(x, jaw[order, 0], jaw[order, 1])
    sampled = anchors.copy()
    # The band between chin and edge, `room` high, shows in `room - drop` rows: slide the edge so that
    # they hold no more than 1 / NECK_KEPT times as much (all of it moves with the chin once room < drop).
    sampled[bottom, 1] -= np.clip(room - (room - drop) / NECK_KEPT, 0.0, drop)
    return anchors, sampled


def warp_maps(size: int, src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per output pixel, where to sample the input: a thin-plate spline through the moved landmarks."""
    anchors, sampled = jaw_sliding_anchors(size, src, dst)
    return thin_plate_map(np.vstack([dst, anchors]), np.vstack([src, sampled]), size)


def remap(image: np.ndarray, maps: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    return cv2.remap(image, maps[0], maps[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def warp(image: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    return remap(image, warp_maps(image.shape[0], src, dst))


# ---- mouth cavity ---------------------------------------------------------------------------------

def lip_colour(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Mean RGB of the lips (between the outer and inner lip contours) of an RGB image."""
    pixels = pixels_between(image, points[OUTER_LIPS], points[INNER_LIPS])
    if not len(pixels):  # a face too small to hold a lip polygon: the mouth's box
        x0, y0 = np.floor(points[OUTER_LIPS].min(0)).astype(int).clip(0)
        x1, y1 = np.ceil(points[OUTER_LIPS].max(0)).astype(int) + 1
        pixels = image[y0:y1, x0:x1].reshape(-1, 3)
    return pixels.astype(np.float32).mean(0)


def skin_colour(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Median RGB of the cheeks and nose (between the jaw's sides, from the nose bridge to its base)."""
    x0, x1 = int(points[3, 0]), int(points[13, 0]) + 1
    y0, y1 = int(points[29, 1]), int(points[33, 1]) + 1
    box = image[max(y0, 0):y1, max(x0, 0):x1]
    return np.median(box.reshape(-1, 3).astype(np.float32), axis=0) if box.size else np.full(3, 128.0, np.float32)


def paint_mouth(image: np.ndarray, crop: np.ndarray, src: np.ndarray, dst: np.ndarray,
                maps: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """The opening between the edited inner lips painted as mesh_warp paints it (`paint_opening`: a cavity
    in the lips' hue, darkest furthest back, teeth on skull and jaw, the tongue), from the 68 landmarks.
    A mouth that was already open keeps what it showed, as mesh_warp's does: its own teeth with skull and
    jaw (`keep_open_mouth`), or a dark opening as the warp (`maps`) carried it (`carried_opening`)."""
    before = Lips(src[INNER_UPPER_LIP], src[INNER_LOWER_LIP])
    after = Lips(dst[INNER_UPPER_LIP], dst[INNER_LOWER_LIP])
    iod = face_frame(dst)[1]
    teeth = teeth_for_skin(skin_colour(crop, src))
    kept = keep_open_mouth(image, crop, before, after, dst[8] - src[8], teeth, maps, iod)
    curved, seam = after.smoothed(), before.smoothed().upper
    mouth = Mouth(curved.upper, curved.lower, seam, after.gap - before.gap, max(0.0, float(dst[8, 1] - src[8, 1])),
                  lip_colour(crop, src), teeth if kept.own_teeth is None else kept.own_teeth, kept.teeth_floor)
    return paint_opening(kept.image, mouth, iod, kept.coverage)


# ---- appearance layers ----------------------------------------------------------------------------

def _mirror(points: np.ndarray, midline: float) -> np.ndarray:
    out = points.copy()
    out[:, 0] = 2 * midline - out[:, 0]
    return out


def _stroke(layer: np.ndarray, pts: np.ndarray, value: float, width: float, scale: int) -> None:
    canvas = np.zeros(layer.shape, np.float32)
    cv2.polylines(canvas, [np.round(pts * scale).astype(np.int32)], False, 1.0,
                  max(1, int(round(width * scale))), cv2.LINE_AA)
    layer += canvas * value


def _blob(layer: np.ndarray, centre: np.ndarray, axes: tuple[float, float], value: float, scale: int) -> None:
    canvas = np.zeros(layer.shape, np.float32)
    cv2.ellipse(canvas, (int(centre[0] * scale), int(centre[1] * scale)),
                (max(1, int(axes[0] * scale)), max(1, int(axes[1] * scale))), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
    layer += canvas * value


def _upper_face_marks(layer: np.ndarray, p: np.ndarray, a, midline: float, iod: float, w: float, scale: int,
                      rng: np.random.Generator, drawn_nose: bool = True) -> None:
    """Brow, forehead, nose-bridge, cheek and lid marks (AU1, 2, 4, 6, 7, 9, 12)."""
    if a(4):  # glabellar furrows, and the shadow of lowered brows on the lids
        for dx in (-0.07, 0.07):
            top = np.array([midline + dx * iod, min(p[21, 1], p[22, 1]) - 0.06 * iod])
            _stroke(layer, np.array([top, top + [dx * 0.3 * iod, 0.3 * iod]]), -0.35 * a(4), w, scale)
        # FACS 1+4 (fear, sadness): AU1 holds the brows up against AU4, which only draws them together, so
        # they shade the lids only as far as AU4 outweighs AU1 (shaded anyway, fear's lids were a dark band).
        lowered = max(0.0, a(4) - a(1))
        _stroke(layer, p[17:22] + [0, 0.09 * iod], -0.18 * lowered, 2 * w, scale)
        _stroke(layer, p[22:27] + [0, 0.09 * iod], -0.18 * lowered, 2 * w, scale)
    if a(1) or a(2):  # horizontal forehead lines, central for AU1, lateral for AU2: this face's own number
        # (2 to 4), spacing, and breaks (a line's lateral parts are missing on some faces)
        for rise in np.cumsum(rng.uniform(0.1, 0.18, rng.integers(2, 5))) + 0.08:
            wave = rng.normal(0.0, 0.012, (10, 1)) * iod * np.array([[0.0, 1.0]])
            brow = np.vstack([p[17:22], p[22:27]]) - [0, rise * iod] + wave
            centre_part, lateral = brow[2:8], np.vstack([brow[:3], brow[7:]])
            _stroke(layer, centre_part, -0.14 * a(1), w, scale)
            for part in (lateral[:3], lateral[3:]):
                if rng.random() < 0.75:
                    _stroke(layer, part, -0.12 * a(2), w, scale)
    if a(9) and drawn_nose:  # short transverse wrinkles where the nose root bunches, thin and bent at the midline, each its
        # own length and tilt (three wide strokes across the middle of the bridge, 30 % darker at full AU9,
        # blurred into a brown smear across the nose)
        for t in np.sort(rng.uniform(0.0, 0.35, 3)):
            y = p[27, 1] + t * (p[30, 1] - p[27, 1])
            half = 0.08 * iod * rng.uniform(0.7, 1.0)
            tilt = rng.normal(0.0, 0.01, 2) * iod
            _stroke(layer, np.array([[midline - half, y + tilt[0]], [midline, y - 0.01 * iod],
                                     [midline + half, y + tilt[1]]]), -0.15 * a(9), 0.6 * w, scale)
    if a(6) or a(12):  # crow's feet at the outer eye corners (a painted highlight on the cheeks read as paint)
        for corner, s in ((p[36], -1.0), (p[45], 1.0)):
            for angle in (-0.35, 0.0, 0.35):
                ray = np.array([corner + [s * 0.06 * iod, 0], corner + [s * 0.2 * iod, angle * 0.2 * iod]])
                _stroke(layer, ray, -0.22 * a(6), 0.8 * w, scale)
    if a(7):  # tightened lower lids: a darker crease under each eye
        _stroke(layer, p[[39, 40, 41, 36]] + [0, 0.05 * iod], -0.3 * a(7), 1.2 * w, scale)
        _stroke(layer, p[[42, 47, 46, 45]] + [0, 0.05 * iod], -0.3 * a(7), 1.2 * w, scale)


def _lower_face_marks(layer: np.ndarray, p: np.ndarray, a, iod: float, w: float, scale: int) -> None:
    """Nasolabial folds and mouth, lip and chin marks (AU6, 9, 10, 12, 15, 17, 20, 23)."""
    # one fold however many AUs deepen it: summed, disgust's AU9 + AU10 drew it 55 % darker, a black line
    fold = min(0.3, 0.3 * a(10) + 0.25 * a(9) + 0.3 * a(12) + 0.1 * a(6))
    if fold:  # nasolabial folds, from the nose wing down past the mouth corner
        def nasolabial(q, s):
            wing, corner = q[31] if s > 0 else q[35], q[48] if s > 0 else q[54]
            side = -1.0 if s > 0 else 1.0
            start = wing + [side * 0.12 * iod, -0.02 * iod]
            end = corner + [side * 0.1 * iod, 0.08 * iod]
            mid = (start + end) / 2 + [side * 0.06 * iod, 0.0]
            _stroke(layer, np.array([start, mid, end]), -fold, 1.3 * w, scale)
        nasolabial(p, 1.0)
        nasolabial(p, -1.0)
    if a(15):  # lines down from the lip corners
        for corner, s in ((p[48], -1.0), (p[54], 1.0)):
            _stroke(layer, np.array([corner + [s * 0.03 * iod, 0.03 * iod], corner + [s * 0.06 * iod, 0.28 * iod]]),
                    -0.28 * a(15), w, scale)
    if a(17):  # chin boss: bulge highlight and the crease above it
        chin_top = p[57] + [0, 0.12 * iod]
        _stroke(layer, np.array([chin_top - [0.16 * iod, 0], chin_top + [0, 0.02 * iod],
                                 chin_top + [0.16 * iod, 0]]), -0.3 * a(17), 1.4 * w, scale)
        _blob(layer, (p[8] + p[57]) / 2 + [0, 0.1 * iod], (0.16 * iod, 0.1 * iod), 0.08 * a(17), scale)
    if a(20):  # stretched lip corners
        for corner, s in ((p[48], -1.0), (p[54], 1.0)):
            _stroke(layer, np.array([corner + [s * 0.04 * iod, 0], corner + [s * 0.14 * iod, 0.02 * iod]]),
                    -0.18 * a(20), 0.8 * w, scale)
    if a(23):  # pressed lips: darker lip line
        _stroke(layer, p[60:65], -0.25 * a(23), 1.2 * w, scale)
        _stroke(layer, p[[64, 65, 66, 67, 60]], -0.25 * a(23), 1.2 * w, scale)


def face_seed(points: np.ndarray) -> int:
    """A seed from the unedited face itself: every edit of one face puts its creases in the same places,
    and no two faces share them."""
    return int(np.random.default_rng(np.round(points[[17, 26, 30, 8]]).astype(np.int64).ravel()).integers(1 << 30))


def appearance_layer(points: np.ndarray, aus: dict[int, float], size: int, seed: int = 0,
                     drawn_nose: bool = True) -> np.ndarray:
    """A luminance gain map (0 = unchanged, -0.3 = 30 % darker) for the AUs, drawn at the landmarks.
    Creases are this face's own (`seed`): unevenly spaced, a little wavy, deeper in places and fading in
    others, never a set of evenly spaced parallel stripes. `drawn_nose` False leaves out AU9's nose-root
    strokes (a real face's ratio image brings them)."""
    scale = 2
    layer = np.zeros((size * scale, size * scale), np.float32)
    midline, iod = face_frame(points)

    def a(au):
        return float(aus.get(au, 0.0))

    _upper_face_marks(layer, points, a, midline, iod, 0.035 * iod, scale, np.random.default_rng(seed), drawn_nose)
    _lower_face_marks(layer, points, a, iod, 0.035 * iod, scale)
    layer = cv2.GaussianBlur(layer, (0, 0), max(0.8, 0.03 * iod * scale))
    feature = 0.12 * iod * scale  # a crease's depth changes over about this length
    cells = (max(2, int(layer.shape[0] / feature) + 2),) * 2
    layer = np.where(layer < 0, layer * (0.35 + 1.0 * smooth_noise(layer.shape, cells, seed)), layer)
    layer = cv2.resize(layer, (size, size), interpolation=cv2.INTER_AREA)
    return np.clip(layer, -0.6, 0.4)


def apply_luminance(image: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """Scale CIELAB lightness by (1 + gain), leaving colour (a, b) alone."""
    lab = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    lab[..., 0] = np.clip(lab[..., 0] * (1.0 + gain), 0.0, 100.0)
    rgb = cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


class AUWarpEditor:
    name = "au_warp"

    def __init__(self, strength: float = 1.0, appearance: bool = True):
        self.strength = strength
        self.appearance = appearance

    def edit(self, crop: np.ndarray, landmarks: np.ndarray, aus: dict[int, float], side: str | None = None,
             nose_wrinkles: np.ndarray | None = None) -> Edit:
        """`nose_wrinkles`: a real face's AU9 ratio image laid onto this crop (`mesh_ratio.lay_on_crop`). The
        warp carries it like the skin, and it replaces the drawn nose-root strokes; without it they are drawn."""
        wrinkling = aus.get(9, 0.0) * self.strength if nose_wrinkles is not None else 0.0
        aus = {au: v * self.strength * CALIBRATION * AU_GAIN.get(au, 1.0) for au, v in aus.items() if v > 0}
        if not aus:
            return Edit(crop.copy(), landmarks.copy())
        moved = lips_meet(landmarks, displaced_landmarks(landmarks, aus, only_side=side))
        maps = warp_maps(crop.shape[0], landmarks, moved)
        out = paint_mouth(remap(crop, maps), crop, landmarks, moved, maps)
        if self.appearance:
            layer = appearance_layer(moved, aus, crop.shape[0], face_seed(landmarks), drawn_nose=wrinkling <= 0)
            if side:  # texture only on the moving half, faded across the midline
                midline, iod = face_frame(moved)
                x = np.arange(crop.shape[1], dtype=np.float32) - midline
                layer = layer * np.clip(0.5 + image_side(side) * x / (0.2 * iod), 0.0, 1.0)[None, :]
            out = apply_luminance(out, layer)
            if wrinkling > 0:
                out = lay_ratio(out, carried_ratio(nose_wrinkles, *maps), wrinkling)
        return Edit(out, moved)
