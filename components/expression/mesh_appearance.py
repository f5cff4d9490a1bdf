"""Appearance that follows from a mesh warp: the mouth interior behind parted lips, and skin folds
where the warp compresses skin. Colours and contrast come from the face itself and every size is
in units of the face's inter-ocular distance (IOD), so the same code serves 64 px and 1024 px,
grey and colour images.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import cv2
import numpy as np

from components.common.face_mesh import INNER_LOWER_LIP, INNER_UPPER_LIP, OUTER_LOWER_LIP, OUTER_UPPER_LIP

SUPERSAMPLE = 4  # masks are drawn at 4x and averaged down: anti-aliased edges


def closed_outline(upper: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """Two contours from one corner to the other (lips, lids) as one closed polygon, each corner once."""
    return np.vstack([upper, lower[::-1][1:-1]])


def polygon_mask(shape: tuple[int, int], polygon: np.ndarray, feather: float) -> np.ndarray:
    """0-1 coverage of a polygon, anti-aliased and softened by `feather` pixels."""
    h, w = shape
    big = np.zeros((h * SUPERSAMPLE, w * SUPERSAMPLE), np.uint8)
    cv2.fillPoly(big, [np.round(polygon * SUPERSAMPLE).astype(np.int32)], 255, cv2.LINE_AA)
    mask = cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    if feather > 0.3:
        mask = cv2.GaussianBlur(mask, (0, 0), feather)
    return mask


def box_around(points: np.ndarray, margin: float, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1), x1 and y1 exclusive: the points' bounding box grown by `margin` pixels, inside an
    image of `shape`."""
    h, w = shape
    x0, y0 = np.clip(np.floor(points.min(0) - margin), 0, [w, h]).astype(int)
    x1, y1 = np.clip(np.ceil(points.max(0) + margin), 0, [w, h]).astype(int)
    return int(x0), int(y0), int(x1), int(y1)


def pixels_between(image: np.ndarray, outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """The (n, 3) pixels inside the `outer` contour and outside the `inner` one (the lips, for lip contours)."""
    ring = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(ring, [np.round(outer).astype(np.int32)], 1)
    cv2.fillPoly(ring, [np.round(inner).astype(np.int32)], 0)
    return image[ring > 0]


def _lip_colour(crop: np.ndarray, mesh: np.ndarray) -> np.ndarray:
    """Median colour of the lips (between the outer and inner contours) in the unedited crop."""
    outer = np.vstack([mesh[list(OUTER_UPPER_LIP)], mesh[list(OUTER_LOWER_LIP)][::-1]])
    inner = np.vstack([mesh[list(INNER_UPPER_LIP)], mesh[list(INNER_LOWER_LIP)][::-1]])
    pixels = pixels_between(crop, outer, inner)
    if len(pixels) < 4:
        pixels = crop[crop.shape[0] // 2 - 1: crop.shape[0] // 2 + 1].reshape(-1, 3)
    return np.median(pixels.astype(np.float32), axis=0)


class Lips(NamedTuple):
    """The inner lips from corner to corner, whichever landmarks found them (the mesh's or the 68
    points'): the lower contour has the same corners and its points face the upper one's."""
    upper: np.ndarray  # (n, 2)
    lower: np.ndarray  # (n, 2)

    @classmethod
    def of_mesh(cls, mesh: np.ndarray) -> Lips:
        return cls(mesh[list(INNER_UPPER_LIP), :2], mesh[list(INNER_LOWER_LIP), :2])

    @property
    def gap(self) -> float:
        return contour_gap(self.upper, self.lower)

    def smoothed(self, per_segment: int = 4) -> Lips:
        """The same lips as one closed curve through their points (per_segment points per landmark step,
        the landmarks kept): a few landmarks per lip (the 68 points have five) joined by straight lines cut a
        polygon into the smooth lips a warp draws, and painted so, the opening looked cut out. Round at the
        corners, where the curve turns from one lip to the other as an open mouth does."""
        n = len(self.upper)
        loop = catmull_rom_loop(closed_outline(self.upper, self.lower), per_segment)
        corner = (n - 1) * per_segment  # where the loop reaches the second corner
        lower = np.vstack([loop[corner:], loop[:1]])[::-1]
        return Lips(loop[:corner + 1], lower)


def catmull_rom_loop(points: np.ndarray, per_segment: int) -> np.ndarray:
    """A closed curve through `points` (each one kept, every `per_segment`-th of the result), with each point's
    tangent from its two neighbours (uniform Catmull-Rom); the last point does not repeat the first."""
    p = np.asarray(points, np.float64)
    p0, p1, p2, p3 = np.roll(p, 1, 0), p, np.roll(p, -1, 0), np.roll(p, -2, 0)
    t = (np.arange(per_segment) / per_segment)[None, :, None]
    p0, p1, p2, p3 = (q[:, None, :] for q in (p0, p1, p2, p3))
    curve = 0.5 * (2 * p1 + (p2 - p0) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t ** 2
                   + (3 * p1 - p0 - 3 * p2 + p3) * t ** 3)
    return curve.reshape(-1, 2)


def opening_mask(shape: tuple[int, int], lips: Lips, iod: float) -> np.ndarray:
    """0-1 coverage of the opening between the inner lips (one closed polygon), anti-aliased."""
    return polygon_mask(shape, closed_outline(lips.upper, lips.lower), 0.012 * iod)


def lip_gap(mesh: np.ndarray) -> float:
    """Mean opening between the inner lips, in pixels (0 for closed or pressed lips)."""
    return Lips.of_mesh(mesh).gap


OPEN_LIPS = 0.06  # IOD: below this gap the lips are (nearly) a seam, with no mouth interior worth keeping


CHEEKS = (50, 280, 205, 425, 187, 411)  # mesh points on both cheeks: the face's skin in its own light


# Teeth belong to the skull and the jaw, not to the lips: the upper incisors' edges sit at the closed
# lips' seam (and show at least INCISAL_SHOW_IOD below a raised upper lip), the lower incisors' edges
# meet them when the jaw is closed and ride down with the chin; a dropping jaw hides them behind the
# lower lip by LOWER_TEETH_HIDDEN_IOD of drop and shows the tongue instead.
INCISAL_SHOW_IOD = 0.045
INCISAL_SHOW_ACROSS = 0.6  # of the mouth's half-width: the central incisors and part of the laterals
LOWER_TEETH_HIDDEN_IOD = 0.06
CHIN = 152  # mesh point at the bottom of the chin: it moves with the jaw


@dataclass(frozen=True)
class MouthBox:
    """The edited opening in box coordinates: per pixel, the upper and lower inner lip heights, the
    closed-lip seam of the unedited face, the distance from the mouth's centre and the jaw's drop."""
    ys: np.ndarray
    top: np.ndarray
    bottom: np.ndarray
    seam: np.ndarray
    across: np.ndarray  # 0 mid-mouth, 1 at the corners
    offset: np.ndarray  # pixels from the mouth's centre, signed
    half_width: float  # pixels from the mouth's centre to a corner
    jaw: float  # pixels the chin moved down
    iod: float
    floor: float  # where the tongue rests at the mouth's middle (box y): the lower lip, or the lower teeth


def _teeth(box: MouthBox, feather: float) -> tuple[np.ndarray, np.ndarray]:
    """Coverage (0-1) of the upper and of the lower teeth."""
    soft = max(0.5, 0.008 * box.iod)
    # Where two teeth meet, their rounded corners leave a notch in the biting edge.
    notch = box.iod * _near_gap(box, UPPER_TOOTH_EDGES_IOD, 0.012, UPPER_NOTCH_IOD)
    # Below a lip that is not raised, the teeth show in the middle only, where the lip's bow is highest.
    incisal_show = INCISAL_SHOW_IOD * box.iod * np.clip((INCISAL_SHOW_ACROSS - box.across) / 0.2, 0.0, 1.0)
    upper_edge = np.maximum(box.seam, box.top + incisal_show) - notch
    upper = np.clip((upper_edge - box.ys) / soft + 0.5, 0.0, 1.0)
    lower_edge = box.seam + box.jaw + 0.012 * box.iod  # a thin dark line between the rows
    shown = float(np.clip(1.0 - box.jaw / (LOWER_TEETH_HIDDEN_IOD * box.iod), 0.0, 1.0))
    lower = np.clip((box.ys - lower_edge) / soft + 0.5, 0.0, 1.0) * shown
    in_arch = np.clip((0.92 - box.across) / 0.08, 0.0, 1.0)  # the corners show the dark buccal space
    blur = max(0.4, feather)
    return (cv2.GaussianBlur((upper * in_arch).astype(np.float32), (0, 0), blur),
            cv2.GaussianBlur((lower * in_arch).astype(np.float32), (0, 0), blur))


# Where one tooth meets the next, in IOD from the midline at the front of the arch (central and lateral
# incisors, canine, first premolar) as the arch's curve shows them from the front: an upper central
# incisor is about 8.5 mm wide against about 63 mm between the pupils.
UPPER_TOOTH_EDGES_IOD = (0.0, 0.135, 0.235, 0.31)
UPPER_NOTCH_IOD = (0.003, 0.01, 0.014, 0.016)  # square central incisors, rounder laterals, the canine's cusp
LOWER_TOOTH_EDGES_IOD = (0.0, 0.085, 0.175, 0.255)


def _near_gap(box: MouthBox, edges: tuple[float, ...], width_iod: float,
              depths: tuple[float, ...] | None = None) -> np.ndarray:
    """Per pixel across the opening: `depth` of the nearest place where two teeth meet (1 if not
    given), falling off over `width_iod`."""
    distance = np.abs(np.abs(box.offset)[..., None] - np.array(edges) * box.iod)
    near = np.exp(-distance ** 2 / (2 * max(0.5, width_iod * box.iod) ** 2))
    return (near * (np.array(depths) if depths else 1.0)).max(-1)


def _painted_interior(box: MouthBox, lip: np.ndarray, teeth_colour: np.ndarray, feather: float) -> np.ndarray:
    """The colour of every pixel of the opening: a cavity in the lip's hue, darkest furthest back, the
    teeth in the face's light (shaded towards the corners and under the upper lip), the tongue."""
    t = np.clip((box.ys - box.top) / np.maximum(box.bottom - box.top, 1e-3), 0.0, 1.0)
    depth = np.sin(np.pi * t) * (1.0 - 0.5 * box.across)
    colour = lip[None, None, :] * (CAVITY_LIGHT - 0.16 * depth[..., None])
    tongue, tongue_light = _tongue(box)
    colour = colour * (1 - tongue[..., None]) + lip * TONGUE_TONE * tongue_light[..., None] * tongue[..., None]
    upper, lower = _teeth(box, feather)
    under_lip = np.clip((box.ys - box.top) / max(0.02 * box.iod, 1.0), 0.0, 1.0)
    shade = (1.0 - 0.45 * box.across ** 2)[..., None]
    # Each tooth is convex: lit across its face, turning away into shade where it meets the next
    # (least between the two central incisors, which meet flat).
    upper_gaps = 1.0 - 0.14 * _near_gap(box, UPPER_TOOTH_EDGES_IOD, 0.018, (0.4, 1.0, 1.0, 1.0))[..., None]
    lower_gaps = 1.0 - 0.1 * _near_gap(box, LOWER_TOOTH_EDGES_IOD, 0.014)[..., None]
    upper_colour = teeth_colour * shade * upper_gaps * (0.8 + 0.2 * under_lip[..., None])
    lower_colour = teeth_colour * shade * lower_gaps * 0.85  # behind the upper teeth: less light
    colour = colour * (1 - upper[..., None]) + upper_colour * upper[..., None]
    return colour * (1 - lower[..., None]) + lower_colour * lower[..., None]


# The tongue fills the floor of a dropped jaw's mouth as a dome behind the lower lip (or behind the lower
# teeth, where a mouth kept its own): half an ellipse TONGUE_HALF_WIDTH of the mouth's half-width wide,
# whose crown rises TONGUE_RISE of the opening's height above that floor's middle. It is about as light as
# the lips (CK+'s surprised mouths are mid-grey inside; at 0.65 of their tone it read as part of the hole) and
# lit from the front: its tip lightest, turning into shade at its crown and its sides. A soft vertical
# gradient instead read as a hole. Higher (0.55), nearer CK+'s, it cost the GAN faces' surprise (README).
TONGUE_RISE, TONGUE_HALF_WIDTH, TONGUE_TONE = 0.4, 0.8, 0.95
CAVITY_LIGHT = 0.22  # of the lips' colour at the opening's edges, falling towards the back


def _tongue(box: MouthBox) -> tuple[np.ndarray, np.ndarray]:
    """Coverage (0-1) of the tongue, and its light (0-1, times TONGUE_TONE of the lips' colour)."""
    shows = float(np.clip((box.jaw - 0.5 * LOWER_TEETH_HIDDEN_IOD * box.iod) / (0.1 * box.iod), 0.0, 1.0))
    if shows == 0.0:
        return np.zeros_like(box.ys), np.zeros_like(box.ys)
    middle = int(np.argmin(np.abs(box.offset[0])))  # every row of the box holds the same lip heights
    floor = min(box.floor, float(box.bottom[0, middle]))
    rise = TONGUE_RISE * max(floor - float(box.top[0, middle]), 1.0)
    x = box.offset / (TONGUE_HALF_WIDTH * box.half_width)
    y = (floor - box.ys) / rise  # 1 at the crown, 0 at the lower lip's middle
    inside = 1.0 - np.sqrt(x ** 2 + np.clip(y, 0.0, None) ** 2)  # > 0 within the dome
    soft = max(1.0, 0.05 * box.iod) / rise  # its crown curves away out of sight: a soft edge
    coverage = np.clip(inside / soft + 0.5, 0.0, 1.0) * shows
    light = (1.0 - 0.6 * np.clip(y, 0.0, 1.0)) * (1.0 - 0.35 * np.clip(x, -1.0, 1.0) ** 2)
    return coverage.astype(np.float32), light.astype(np.float32)


# Teeth are lit like the skin but reflect more: at skin level 140 (of 255) they reach 225. Real smiles in
# grey studio photos show teeth near white beside mid-grey skin (at 190, the painted teeth read grey).
TEETH_SKIN_RATIO = 140.0


def cheek_skin(crop: np.ndarray, src: np.ndarray) -> np.ndarray:
    """The skin's colour at the mesh's cheek points (median)."""
    h, w = crop.shape[:2]
    pts = np.clip(np.round(src[list(CHEEKS)]).astype(int), 0, [w - 1, h - 1])
    return np.median(crop[pts[:, 1], pts[:, 0]].astype(np.float32), axis=0)


def teeth_colour(crop: np.ndarray, src: np.ndarray) -> np.ndarray:
    """`teeth_for_skin` of the skin at the mesh's cheek points."""
    return teeth_for_skin(cheek_skin(crop, src))


def near_white_tint(skin: np.ndarray) -> np.ndarray:
    """Per channel (mean 1): the cast of near-white things (teeth, the eye's white) in this face's light, a
    third of the skin's tint (grey stays grey)."""
    return 1.0 + 0.35 * (skin / max(float(skin.mean()), 1.0) - 1.0)


def teeth_for_skin(skin: np.ndarray) -> np.ndarray:
    """Near white in the face's own light and colour cast (`near_white_tint`)."""
    brightness = float(np.clip(skin.mean() / TEETH_SKIN_RATIO, 0.35, 1.2))
    return np.minimum(225.0 * brightness * near_white_tint(skin), 252.0)


def own_teeth_colour(crop: np.ndarray, lips: Lips, skin_teeth: np.ndarray, iod: float) -> np.ndarray | None:
    """The colour of the teeth a parted mouth already shows (the brightest quarter of its opening), so
    that teeth painted beside them match; None where the opening shows no teeth (darker than the skin's
    teeth colour `skin_teeth` would be by a fifth or more)."""
    pixels = crop[opening_mask(crop.shape[:2], lips, iod) > 0.9].astype(np.float32)
    if len(pixels) < 8:
        return None
    bright = pixels[pixels.mean(1) >= np.percentile(pixels.mean(1), 75)]
    own = np.median(bright, axis=0)
    return own if own.mean() >= 0.8 * skin_teeth.mean() else None


def keep_own_teeth(image: np.ndarray, crop: np.ndarray, before: Lips, after: Lips, jaw: np.ndarray,
                   own_teeth: np.ndarray, iod: float) -> tuple[np.ndarray, np.ndarray]:
    """A mouth that was already open with its teeth showing keeps them where they belong: the part of the old
    opening above the gap's middle (upper teeth) stays with the skull, the part below (lower teeth)
    moves with the chin (`jaw`: its (dx, dy) in pixels), and either shows only inside the edited opening;
    where the upper lip rose, the upper teeth (`own_teeth`: their colour) continue up (`_teeth_uncovered`).
    The warp would stretch them with the lips instead (teeth drawn into bars, or a black hole where the
    jaw dropped). Returns the image and the kept coverage (0-1) that `paint_opening` leaves alone."""
    # Everything happens near the mouth: work in a box around both openings and the old one moved with the
    # jaw (a 512 px edit spent half its time on these masks over the whole crop).
    h, w = image.shape[:2]
    corners = np.vstack([before.upper, before.lower, before.upper + jaw, before.lower + jaw, after.upper, after.lower])
    x0, y0, x1, y1 = box_around(corners, 0.1 * iod + 2, (h, w))
    kept = np.zeros((h, w), np.float32)
    if x1 <= x0 or y1 <= y0:
        return image, kept
    offset = np.array([x0, y0], float)
    before, after = Lips(before.upper - offset, before.lower - offset), Lips(after.upper - offset, after.lower - offset)
    bh, bw = y1 - y0, x1 - x0
    ys, xs = np.mgrid[0:bh, 0:bw].astype(np.float32)
    middle = (before.upper[1:-1] + before.lower[1:-1]) / 2
    order = np.argsort(middle[:, 0])
    split = np.interp(xs, middle[order, 0], middle[order, 1])
    soft = max(0.5, 0.01 * iod)
    below = np.clip((ys - split) / soft + 0.5, 0.0, 1.0)
    old = opening_mask((bh, bw), before, iod)
    on_jaw = cv2.warpAffine(old * below, np.float32([[1, 0, jaw[0]], [0, 1, jaw[1]]]), (bw, bh), flags=cv2.INTER_LINEAR)
    jaw_pixels = cv2.warpAffine(crop, np.float32([[1, 0, jaw[0] - x0], [0, 1, jaw[1] - y0]]), (bw, bh),
                                flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    new = opening_mask((bh, bw), after, iod)
    skull_kept, jaw_kept = old * (1 - below) * new, on_jaw * new
    crop_box = crop[y0:y1, x0:x1].astype(np.float32)
    above, above_colour = _teeth_uncovered(crop_box, before, after, split[0], new, own_teeth, iod)
    skull_kept *= 1 - above
    kept[y0:y1, x0:x1] = np.clip(skull_kept + jaw_kept + above, 0.0, 1.0)
    box = kept[y0:y1, x0:x1, None]
    painted = image[y0:y1, x0:x1].astype(np.float32) * (1 - box) + crop_box * skull_kept[..., None] + \
        jaw_pixels.astype(np.float32) * jaw_kept[..., None] + above_colour * above[..., None]
    out = image.copy()
    out[y0:y1, x0:x1] = np.clip(painted + 0.5, 0, 255).astype(np.uint8)
    return out, kept


# A raised upper lip uncovers more of the upper teeth a mouth already showed. They are the same teeth, fixed to the
# skull: each column continues its own teeth (seen between the old lip and the old gap's middle, OWN_TEETH_ROWS of
# the way) upwards, so the face's teeth keep their own widths and gaps (painted teeth above them had other,
# evenly spaced gaps), a little darker towards the gum and in the new lip's shadow. The continuation reaches
# OWN_TEETH_OVERLAP of the way down into the old opening: the old lip's edge and shadow would be a line across the
# teeth. Columns fade out where the old opening was thinner than OWN_TEETH_FADE_IOD (its corners) or showed no
# teeth (darker than OWN_TEETH_DARKER times their colour: the dark space behind a smile's corners).
OWN_TEETH_ROWS = (0.2, 0.9)
OWN_TEETH_OVERLAP = 0.2
OWN_TEETH_FADE_IOD = 0.03
OWN_TEETH_DARKER = 0.75
CROWN_IOD = 0.17  # an upper central incisor's crown, about 10.5 mm, against about 63 mm between the pupils


def _teeth_uncovered(crop_box: np.ndarray, before: Lips, after: Lips, split: np.ndarray, new: np.ndarray,
                     own_teeth: np.ndarray, iod: float) -> tuple[np.ndarray, np.ndarray]:
    """Coverage (0-1) and colour of the own upper teeth continued above the old opening, in box coordinates
    (`split` per column: the old gap's middle; `new`: the edited opening)."""
    bh, bw = new.shape
    xs = np.arange(bw, dtype=np.float32)
    top_before, top_after = (np.interp(xs, *_by_x(lips.upper)) for lips in (before, after))
    rows = [top_before + f * (split - top_before) for f in np.linspace(*OWN_TEETH_ROWS, 8)]
    samples = np.concatenate([cv2.remap(crop_box, xs[None], row[None].astype(np.float32), cv2.INTER_LINEAR,
                                        borderMode=cv2.BORDER_REPLICATE) for row in rows])  # (8, bw, 3)
    colour = np.percentile(samples, 70, axis=0)  # the teeth, not the lip's edge or a gap between rows
    colour = cv2.GaussianBlur(colour[None], (0, 0), sigmaX=max(0.3, 0.003 * iod), sigmaY=0.01)[0]  # its noise: streaks
    teeth_like = np.clip((colour.mean(1) / max(float(own_teeth.mean()), 1.0) - OWN_TEETH_DARKER) / 0.1, 0.0, 1.0)
    columns = teeth_like * np.clip((split - top_before) / (OWN_TEETH_FADE_IOD * iod), 0.0, 1.0)
    columns *= (xs > before.upper[:, 0].min()) & (xs < before.upper[:, 0].max())
    ys = np.arange(bh, dtype=np.float32)[:, None]
    reach = top_before + OWN_TEETH_OVERLAP * (split - top_before)
    towards_gum = np.clip((top_before[None] - ys) / (CROWN_IOD * iod), 0.0, 1.0)
    in_shadow = np.clip((ys - top_after[None]) / max(0.02 * iod, 1.0), 0.0, 1.0)
    shade = (1.0 - 0.12 * towards_gum) * (0.8 + 0.2 * in_shadow)
    coverage = new * np.clip(reach[None] + 0.5 - ys, 0.0, 1.0) * columns[None]
    return coverage.astype(np.float32), (colour[None] * shade[..., None]).astype(np.float32)


def _by_x(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A contour's x and y sorted by x, for np.interp."""
    order = np.argsort(points[:, 0])
    return points[order, 0], points[order, 1]


def carried_opening(opening: np.ndarray, map_x: np.ndarray, map_y: np.ndarray, iod: float) -> np.ndarray:
    """Where a dark opening (no teeth showing; `opening` its 0-1 mask before the edit) is kept as the warp
    carried it: everywhere but where the warp stretched it upright, which pulls it into bars (painted
    there instead). Keeping it with skull and jaw instead left painted teeth standing alone at a widened
    smile's corners, and painting all of it made the demo's models transfer worse to real faces (README,
    "mesh_warp"); in au_warp, painting it drew white teeth into every dark open mouth."""
    kept = cv2.remap(opening, map_x, map_y, cv2.INTER_LINEAR)
    # source rows per output row (< 0.5: a 2x stretch), smoothed over the warp grid's cells
    vertical_scale = cv2.GaussianBlur(np.gradient(map_y, axis=0), (0, 0), 0.02 * iod)
    return kept * np.clip((vertical_scale - 0.4) / 0.25, 0.0, 1.0)


class KeptMouth(NamedTuple):
    """What `keep_open_mouth` kept of a mouth that was already open."""
    image: np.ndarray
    coverage: np.ndarray | float  # 0-1: pixels kept, that the painter leaves alone
    own_teeth: np.ndarray | None  # the colour of the teeth it showed; None if it showed none
    teeth_floor: float | None  # image y of the kept lower teeth's edge at the mouth's middle (the tongue's floor)


def keep_open_mouth(image: np.ndarray, crop: np.ndarray, before: Lips, after: Lips, jaw: np.ndarray,
                    skin_teeth: np.ndarray, maps: tuple[np.ndarray, np.ndarray], iod: float) -> KeptMouth:
    """What a mouth that was already open keeps, for either editor: its own teeth with skull and jaw
    (`keep_own_teeth`, and their colour for the teeth painted beside them), or a dark opening as the warp
    (`maps`) carried it (`carried_opening`). A closed mouth comes back as it was."""
    if before.gap < OPEN_LIPS * iod:
        return KeptMouth(image, 0.0, None, None)
    own = own_teeth_colour(crop, before, skin_teeth, iod)
    if own is None:
        return KeptMouth(image, carried_opening(opening_mask(crop.shape[:2], before, iod), maps[0], maps[1], iod),
                         None, None)
    image, kept = keep_own_teeth(image, crop, before, after, jaw, own, iod)
    # The lower teeth's edge is where the old opening was split between skull and jaw, moved with the chin: a
    # dropped jaw's tongue lies behind them, not on the lower lip below them (there it left a black hole).
    middle = len(before.upper) // 2
    return KeptMouth(image, kept, own, float((before.upper[middle, 1] + before.lower[middle, 1]) / 2 + jaw[1]))


@dataclass(frozen=True)
class Mouth:
    """A mouth as the painter needs it, from whichever landmarks found it: the inner lips corner to corner
    (upper, and lower with the same corners and facing points), before and after the edit, and the
    colours of the face's lips and teeth."""
    upper: np.ndarray  # (n, 2) inner upper lip after the edit
    lower: np.ndarray  # (n, 2) inner lower lip after the edit
    seam: np.ndarray  # (n, 2) inner upper lip before the edit: where the closed lips met
    opened: float  # pixels the gap between the lips grew by
    jaw: float  # pixels the chin moved down
    lip: np.ndarray  # RGB
    teeth: np.ndarray  # RGB
    teeth_floor: float | None = None  # image y of lower teeth kept with the jaw (`KeptMouth`), if any


def contour_gap(upper: np.ndarray, lower: np.ndarray) -> float:
    """Mean opening between facing inner-lip points (corners excluded), in pixels; 0 for closed lips."""
    return float(np.clip(lower[1:-1, 1] - upper[1:-1, 1], 0.0, None).mean())


def paint_mouth(image: np.ndarray, crop: np.ndarray, src: np.ndarray, dst: np.ndarray, iod: float,
                kept: KeptMouth | None = None) -> np.ndarray:
    """`paint_opening` for a mesh edit: `src`/`dst` the mesh before and after. Painted teeth take the colour
    of the face's own (`own_teeth_colour`) where it shows them."""
    upper, lower = dst[list(INNER_UPPER_LIP)], dst[list(INNER_LOWER_LIP)]
    kept = kept if kept is not None else KeptMouth(image, 0.0, None, None)
    mouth = Mouth(upper, lower, src[list(INNER_UPPER_LIP)], lip_gap(dst) - lip_gap(src),
                  max(0.0, float(dst[CHIN, 1] - src[CHIN, 1])), _lip_colour(crop, src),
                  teeth_colour(crop, src) if kept.own_teeth is None else kept.own_teeth, kept.teeth_floor)
    return paint_opening(image, mouth, iod, kept.coverage)


def paint_opening(image: np.ndarray, mouth: Mouth, iod: float, kept: np.ndarray | float = 0.0) -> np.ndarray:
    """Fill the opening between the edited inner lips (see `_painted_interior`). `kept` (0-1) marks
    pixels kept from a mouth that was already open (`keep_own_teeth`, or the dark opening as the warp
    carried it)."""
    if mouth.opened < 0.015 * iod:
        return image
    # Work in a box around the opening only.
    h, w = image.shape[:2]
    x0, y0, x1, y1 = box_around(np.vstack([mouth.upper, mouth.lower]), 0.1 * iod, (h, w))
    if x1 <= x0 or y1 <= y0:
        return image
    offset = np.array([x0, y0], float)
    upper, lower, seam = mouth.upper - offset, mouth.lower - offset, mouth.seam - offset
    feather = 0.012 * iod
    kept_box = kept[y0:y1, x0:x1] if isinstance(kept, np.ndarray) else kept
    mask = polygon_mask((y1 - y0, x1 - x0), closed_outline(upper, lower), feather) * (1.0 - kept_box)
    ys, xs = np.mgrid[0:y1 - y0, 0:x1 - x0].astype(np.float32)

    def height(points: np.ndarray) -> np.ndarray:
        order = np.argsort(points[:, 0])
        return np.interp(xs, points[order, 0], points[order, 1])

    half_width = max(float(np.linalg.norm(upper[-1] - upper[0])) / 2, 1.0)
    across = xs - (upper[0, 0] + upper[-1, 0]) / 2
    floor = np.inf if mouth.teeth_floor is None else mouth.teeth_floor - y0
    box = MouthBox(ys, height(upper), height(lower), height(seam), np.clip(np.abs(across) / half_width, 0.0, 1.0),
                   across, half_width, mouth.jaw, iod, floor)
    colour = _painted_interior(box, mouth.lip, mouth.teeth, feather)
    painted = image[y0:y1, x0:x1].astype(np.float32) * (1 - mask[..., None]) + colour * mask[..., None]
    out = image.copy()
    out[y0:y1, x0:x1] = np.clip(painted + 0.5, 0, 255).astype(np.uint8)
    return out


@lru_cache(maxsize=8)
def smooth_noise(shape: tuple[int, int], cells: tuple[int, int], seed: int) -> np.ndarray:
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
    irregular = 0.7 + 0.6 * smooth_noise(grey.shape, cells, seed)
    shade = strength * FOLD_GAIN * np.where(valley > 0, valley, 0.15 * valley) * contrast * irregular
    shade = cv2.resize(shade, (w, h), interpolation=cv2.INTER_LINEAR).clip(-0.15, 0.45)
    shade[np.abs(shade) < 0.004] = 0.0  # leave untouched skin bit-exact
    # Scaling R, G and B together darkens without shifting hue (and keeps grey faces grey).
    return np.clip(image.astype(np.float32) * (1.0 - shade[..., None]) + 0.5, 0, 255).astype(np.uint8)


def carried_ratio(laid: np.ndarray, map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
    """A ratio image laid onto the unedited crop, taken where a warp's backward maps take the skin under it (1
    where nothing of it lands)."""
    return cv2.remap(laid, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=1.0)


def lay_ratio(image: np.ndarray, ratio: np.ndarray, strength: float | np.ndarray) -> np.ndarray:
    """`image` (uint8, RGB or grey) times the ratio raised to `strength` (one value, or one per pixel): each
    channel alike, so hue is kept."""
    if np.max(strength) <= 0:
        return image
    gain = np.power(ratio, strength, dtype=np.float32)
    if image.ndim == 3:
        gain = gain[..., None]
    return np.clip(image.astype(np.float32) * gain + 0.5, 0, 255).astype(np.uint8)


# AU1 raises the inner brows and lines the middle of the forehead, AU2 the outer brows and its sides: a
# forehead exemplar is raised to AU1's intensity within CENTRAL_IOD of the midline, to AU2's beyond SIDES_IOD.
CENTRAL_IOD, SIDES_IOD = 0.25, 0.5


def forehead_strength(midline: float, iod: float, width: int, aus: dict[int, float]) -> np.ndarray:
    """(1, width): the power each column of a forehead ratio image is raised to, from AU1 and AU2 (`midline`:
    the face's middle, x in pixels)."""
    across = np.abs(np.arange(width, dtype=np.float32) - midline) / iod
    central = np.clip((SIDES_IOD - across) / (SIDES_IOD - CENTRAL_IOD), 0.0, 1.0)
    return (aus.get(1, 0.0) * central + aus.get(2, 0.0) * (1.0 - central))[None, :]
