"""The eyeball behind moving lids.

Lids slide over an eyeball that stays where it is: raised upper lids (AU5) uncover white above the
iris, raised lower lids (AU6, AU7) cover more of it, and the iris keeps its size and shape. A warp
alone stretches or squashes the iris with the lids (a bulging, dark eye), so inside the edited opening
the crop's own eyeball is kept where it was visible, and painted from its own colours where the lids
uncovered it: the white in the sclera's light, shaded like a sphere under the lid's shadow, and the
iris's hidden rim. Sizes are in units of the face's inter-ocular distance (IOD).
"""
from __future__ import annotations

import cv2
import numpy as np

from components.common.face_mesh import (LEFT_IRIS, LEFT_LOWER_LID, LEFT_UPPER_LID, RIGHT_IRIS, RIGHT_LOWER_LID,
                                         RIGHT_UPPER_LID)

from .mesh_appearance import box_around, cheek_skin, closed_outline, near_white_tint, polygon_mask, teeth_for_skin

EYES = ((RIGHT_UPPER_LID, RIGHT_LOWER_LID, RIGHT_IRIS), (LEFT_UPPER_LID, LEFT_LOWER_LID, LEFT_IRIS))
LASH_IOD = 0.03  # the lid margin and its lashes: never copied into the opening as if it were eyeball
STILL_IOD = 0.01  # lids that moved less than this keep the eye untouched


def follow_lids(mesh: np.ndarray, moves: np.ndarray) -> np.ndarray:
    """`moves` with each iris point moving as the lid skin nearest it (inverse-distance weighted).
    The eyeball itself is kept or painted by `keep_eyeballs`; what matters to the warp is that an iris
    point hidden under a lid never pins that lid's skin in place."""
    moves = moves.copy()
    for upper, lower, iris in EYES:
        lids = list(upper + lower)
        distance = np.linalg.norm(mesh[list(iris), None, :2] - mesh[None, lids, :2], axis=-1)
        weights = 1.0 / np.maximum(distance, 1e-3) ** 2
        moves[list(iris)] = (weights / weights.sum(1, keepdims=True)) @ moves[lids]
    return moves


# A raised upper lid (AU5) uncovers white above the iris, and a real one stops soon after the iris's top: the
# real surprise apexes of CK+ in EmoPy show 0.1-0.3 iris radii of white above it (benchmarks/eye_opening.py).
# AU5's field moves every face's lids alike, which left 0.4-1.3 radii on real faces: a staring, painted eye.
SCLERA_SHOW_MAX = 0.3  # iris radii


def iris_circle(mesh: np.ndarray, iris: tuple[int, ...]) -> tuple[np.ndarray, float]:
    """The iris's centre and radius (mean distance of its rim points)."""
    centre = mesh[iris[0], :2]
    return centre, float(np.linalg.norm(mesh[list(iris[1:]), :2] - centre, axis=1).mean())


def lid_height_at(points: np.ndarray, x: float | np.ndarray) -> float | np.ndarray:
    """The lid margin's y at column(s) `x` (points along the lid, in any order)."""
    order = np.argsort(points[:, 0])
    return np.interp(x, points[order, 0], points[order, 1])


def sclera_show(mesh: np.ndarray, moved: np.ndarray, eye: tuple[tuple[int, ...], ...]) -> float:
    """White between the still iris's top and the upper lid after the move (`moved`: the mesh's points moved),
    in iris radii; negative where the lid covers the iris."""
    upper, _, iris = eye
    centre, radius = iris_circle(mesh, iris)
    return (centre[1] - radius - lid_height_at(moved[list(upper)], centre[0])) / max(radius, 1e-6)


def limit_lid_raise(mesh: np.ndarray, moves: np.ndarray, raised: np.ndarray, iod: float) -> np.ndarray:
    """`moves` (of the mesh's points) with less of `raised` (the upper lids' raise among them: AU5's field at its
    intensity) on each eye whose lid would leave more than SCLERA_SHOW_MAX of white above the iris: just enough
    less that it leaves that much."""
    points = mesh[:, :2]
    midline = (points[EYES[0][2][0], 0] + points[EYES[1][2][0], 0]) / 2
    moves = moves.copy()
    for eye in EYES:
        upper, _, iris = eye
        centre, radius = iris_circle(points, iris)
        excess = (sclera_show(points, points + moves, eye) - SCLERA_SHOW_MAX) * radius
        lift = -lid_height_at(np.column_stack([points[list(upper), 0], raised[list(upper), 1]]), centre[0])
        if excess <= 0 or lift <= 1e-6:
            continue
        this_side = np.clip(0.5 + np.sign(centre[0] - midline) * (points[:, 0] - midline) / (0.2 * iod), 0.0, 1.0)
        moves -= min(1.0, excess / lift) * raised * this_side[:, None]
    return moves


# The upper lashes grow from the lid's margin, in the band up to MediaPipe's next ring of points (0.06-0.12 IOD
# above it): the warp stretched that band 1.6-1.8x in surprise (the brows' raise reaches the ring, the held lid
# does not), drawing each lash that much longer, a comb at 512 px. Lashes are hairs, and a raised lid's skin
# folds in above them: the ring moves as the margin below it does, and the lid skin above the ring, up to the
# brows, takes the stretch.
LASH_RINGS = ((247, 30, 29, 27, 28, 56, 190), (467, 260, 259, 257, 258, 286, 414))  # as EYES: right, left


def carry_lashes(mesh: np.ndarray, moves: np.ndarray) -> np.ndarray:
    """`moves` with each upper lid's next ring of points (LASH_RINGS) moving as the margin below it."""
    points = mesh[:, :2]
    moves = moves.copy()
    for (upper, _, _), ring in zip(EYES, LASH_RINGS):
        x = points[list(ring), 0]
        margin = np.column_stack([lid_height_at(np.column_stack([points[list(upper), 0], moves[list(upper), k]]), x)
                                  for k in (0, 1)])  # the margin's move below each ring point
        # only a stretch is taken back: a ring pressed down towards the margin (lowered brows) folds the skin
        moves[list(ring), 0] = margin[:, 0]
        moves[list(ring), 1] = np.maximum(moves[list(ring), 1], margin[:, 1])
    return moves


def opening(mesh: np.ndarray, upper: tuple[int, ...], lower: tuple[int, ...]) -> np.ndarray:
    """The eye opening between the lid margins as one closed polygon."""
    return closed_outline(mesh[list(upper)], mesh[list(lower)])


def keep_eyeballs(image: np.ndarray, crop: np.ndarray, src: np.ndarray, dst: np.ndarray, iod: float,
                  map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
    """`image` (the warped crop) with each eye's opening showing the unmoved eyeball of `crop`.
    `src`/`dst` are the mesh before and after the edit, `map_x`/`map_y` the warp's backward maps."""
    out = image
    for upper, lower, iris in EYES:
        lids = list(upper + lower)
        if np.abs(dst[lids] - src[lids]).max() >= STILL_IOD * iod:
            out = _keep_eyeball(out, crop, src, dst, iod, (upper, lower, iris), map_x, map_y)
    return out


def _keep_eyeball(image: np.ndarray, crop: np.ndarray, src: np.ndarray, dst: np.ndarray, iod: float,
                  eye: tuple[tuple[int, ...], ...], map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
    upper, lower, iris = eye
    h, w = image.shape[:2]
    lids = list(upper + lower)
    corners = np.vstack([src[lids], dst[lids]])
    x0, y0, x1, y1 = box_around(corners, 0.05 * iod, (h, w))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return image
    offset = np.array([x0, y0], float)
    shape = (y1 - y0, x1 - x0)
    new = polygon_mask(shape, opening(dst, upper, lower) - offset, 0.006 * iod)
    old = np.zeros(shape, np.uint8)
    cv2.fillPoly(old, [np.round(opening(src, upper, lower) - offset).astype(np.int32)], 1)
    lash = max(1, round(LASH_IOD * iod))
    visible = cv2.erode(old, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * lash + 1, 2 * lash + 1))) > 0
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    warped, source = image[y0:y1, x0:x1].astype(np.float32), crop[y0:y1, x0:x1].astype(np.float32)
    painted = _painted_eyeball(source, visible, xs, ys, crop, src, dst, eye, iod)
    blur = edge_blur(source)
    if blur > 0.5:  # as soft as the photo's own edges: a sharp iris disc in a soft photo reads as painted
        painted = cv2.GaussianBlur(painted, (0, 0), blur)
    # Painted where the lids uncovered eyeball (the warp moved skin there), warped where nothing moved.
    moved = np.hypot(map_x[y0:y1, x0:x1] - xs, map_y[y0:y1, x0:x1] - ys)
    uncovered = np.clip(moved / (LASH_IOD * iod), 0.0, 1.0)[..., None]
    kept = cv2.GaussianBlur(visible.astype(np.float32), (0, 0), max(0.5, 0.006 * iod))[..., None]
    inside = source * kept + (1 - kept) * (painted * uncovered + warped * (1 - uncovered))
    out = image.copy()
    out[y0:y1, x0:x1] = np.clip(warped * (1 - new[..., None]) + inside * new[..., None] + 0.5, 0, 255).astype(np.uint8)
    return out


# An eye's sharpest edges (the limbus, the lash line) are not ideal steps even in a sharp photo, so the step model
# overstates the photo's blur: the painted eyeball takes this share of it (all of it cost the GAN faces' fear and
# surprise on one classifier at 128 px and looked no different at 512).
EDGE_BLUR_SHARE = 0.6


def edge_blur(region: np.ndarray) -> float:
    """How soft this region's sharpest edges are, as the Gaussian blur (pixels) that would turn an ideal step of
    its contrast into its steepest slope, times EDGE_BLUR_SHARE (an upscaled photo: several pixels)."""
    grey = cv2.cvtColor(region, cv2.COLOR_RGB2GRAY).astype(np.float32) if region.ndim == 3 else region.astype(np.float32)
    if grey.size < 16:
        return 0.0
    contrast = float(np.percentile(grey, 98) - np.percentile(grey, 2))
    slope = np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)) / 8.0
    steepest = float(np.percentile(slope, 99.5))
    return EDGE_BLUR_SHARE * contrast / (np.sqrt(2 * np.pi) * steepest) if steepest > 1e-3 else 0.0


# What a neutral eye shows of its white is small and mostly in the lids' shade: its colour carries the lids'
# and the lid margin's pink, and painted over a raised lid's whole band it read as a mauve eyeball (grey, once
# its colour was taken out, beside warm skin). It takes the tint of the face's near white instead (as its
# teeth do: a third of the skin's), at the lightness measured (a whiter white cost fear and surprise on the classifiers,
# README "mesh_warp"), so no grey image and no grey classifier sees the change.
LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # RGB to grey, as OpenCV and the classifiers weigh it


def in_tint_of(rgb: np.ndarray, tint: np.ndarray) -> np.ndarray:
    """`rgb`'s lightness (grey) in the hue and saturation of `tint` (per channel factors)."""
    return tint * float(rgb @ LUMA) / max(float(tint @ LUMA), 1.0)


def _painted_eyeball(source: np.ndarray, visible: np.ndarray, xs: np.ndarray, ys: np.ndarray, crop: np.ndarray,
                     src: np.ndarray, dst: np.ndarray, eye: tuple[tuple[int, ...], ...], iod: float) -> np.ndarray:
    """The eyeball as a whole: sclera and iris in the colours visible before the edit (the white in the
    tint of the face's near white, `in_tint_of`), the white darker towards the corners (a sphere) and in
    the upper lid's shadow, the iris with a darker rim. Where too little of either is visible to measure,
    the face's near white (its teeth's) stands in."""
    upper, _, iris = eye
    centre, radius = iris_circle(src, iris)
    distance = np.hypot(xs - centre[0], ys - centre[1])
    iris_pixels = source[visible & (distance < 0.8 * radius)]
    sclera_pixels = source[visible & (distance > 1.2 * radius)]
    skin = cheek_skin(crop, src)
    near_white = teeth_for_skin(skin)
    if len(sclera_pixels) >= 3:  # the lit half: the rest is lid shadow and corner
        luma = sclera_pixels.mean(1)
        sclera_colour = in_tint_of(np.median(sclera_pixels[luma >= np.median(luma)], axis=0), near_white_tint(skin))
    else:
        sclera_colour = near_white
    iris_colour = np.median(iris_pixels, axis=0) if len(iris_pixels) >= 3 else 0.35 * near_white
    a, b = dst[upper[0]], dst[upper[-1]]
    across = np.clip(np.abs(xs - (a[0] + b[0]) / 2) / max(abs(b[0] - a[0]) / 2, 1.0), 0.0, 1.0)
    below_lid = np.clip((ys - lid_height_at(dst[list(upper)], xs)) / max(0.04 * iod, 1.0), 0.0, None)
    shadow = (1.0 - 0.3 * np.exp(-below_lid))[..., None]
    sclera = sclera_colour * (1.0 - 0.25 * across ** 2)[..., None]
    in_iris = np.clip((radius - distance) / max(0.5, 0.01 * iod) + 0.5, 0.0, 1.0)[..., None]
    rim = (1.0 - 0.3 * np.clip((distance / max(radius, 1.0) - 0.75) / 0.25, 0.0, 1.0))[..., None]
    return (sclera * (1 - in_iris) + iris_colour * rim * in_iris) * shadow
