"""Per-AU displacement fields on MediaPipe's 478-point mesh of one face, in pixels.

Each AU's field comes from the source that measured best for it (README, "mesh_warp"):
- `model`: py-feat's linear AU -> mesh model, its per-AU row restricted to the AU's own facial
  region (the raw rows leak onto the face outline), mapped onto this face by a similarity fit;
- `hand`: the au_warp tables of 68-point moves, carried onto the mesh by Gaussian spreading that
  never crosses the lip seam or the eyelid line (an upper-lip move must not drag the lower lip);
- both, weighted.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from components.common.face_mesh import (INNER_LIP_PAIRS, INNER_LOWER_LIP, INNER_UPPER_LIP, LEFT_EYE_CORNERS,
                                         RIGHT_EYE_CORNERS, STABLE_POINTS, inter_ocular)

from .au_warp import AU_MOVES, displaced_landmarks, image_side
from .mesh_model import MeshModel

# AU -> (model weight, hand weight). Chosen per AU by the recognisability benchmark on real faces
# and by eye on contact sheets (README, "mesh_warp: where each AU comes from").
SOURCES: dict[int, tuple[float, float]] = {
    1: (0.0, 1.0), 2: (0.0, 1.0), 4: (0.0, 1.0),  # the model lowers the inner brow for AU1 and barely moves AU4
    5: (1.0, 0.0), 6: (0.5, 0.5), 7: (0.0, 1.0), 43: (1.0, 0.0),
    9: (0.0, 1.0), 10: (0.0, 1.0),  # the model's AU9/AU10 land on the outline, not the nose or upper lip
    12: (0.5, 0.5), 14: (1.0, 0.0), 15: (0.0, 1.0), 16: (0.0, 1.0), 17: (0.0, 1.0),
    20: (0.0, 1.0), 23: (0.0, 1.0), 24: (0.0, 1.0), 25: (0.0, 1.0), 26: (1.0, 0.0),
    # the model's AU17 and AU24 lift the upper lip too (co-occurrence in its training data)
}
SUPPORTED_AUS = tuple(sorted(SOURCES))

# Where each model AU may act, as (v_min, v_max) in IOD units below the eye line; the face
# outline is excluded except where the jaw itself moves.
_MODEL_REGIONS: dict[int, tuple[float, float]] = {5: (-0.45, 0.0), 6: (-0.2, 0.95), 43: (-0.4, 0.25),
                                                  12: (0.45, 1.5), 14: (0.55, 1.45), 26: (0.5, 2.0)}
_JAW_AUS = {26}
# A jaw AU moves the outline from JAW_LINE_V (IOD under the eye line) down, and the skin beside it from
# JAW_SIDE_V down without fading: the cheeks' lower part rides the jaw (faded there too, surprise's dropped
# jaw stretched that skin: real faces' facex surprise 0.93 -> 0.86, identity 0.445 -> 0.449).
JAW_LINE_V, JAW_SIDE_V = 1.1, 0.95
# A model AU's weight fades to nothing over this distance inside the outline. Cut off at the outline
# itself, a smile moved the cheek beside it and not the outline: the cheek folded over the face's edge
# (13.6 turned-over triangles per real face, `benchmarks/warp_folds.py`), drawing a second jaw edge and
# dragging the earlobes at 512 px.
OUTLINE_FADE_IOD = 0.12

# The face outline (MediaPipe's FACEMESH_FACE_OVAL ring).
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148,
             176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)

# 68-point landmarks by which side of the lip seam / eyelid line they sit on (others: any side).
_LM_MOUTH = {**{i: 1 for i in (49, 50, 51, 52, 53, 61, 62, 63)}, **{i: -1 for i in (55, 56, 57, 58, 59, 65, 66, 67,
                                                                                    4, 5, 6, 7, 8, 9, 10, 11, 12)}}
_LM_EYES = {**{i: 1 for i in (37, 38, 43, 44, *range(17, 27))}, **{i: -1 for i in (40, 41, 46, 47)}}
# Soft tissue the 68 landmarks cannot reach (cheeks, nose dorsum, chin): per AU, Gaussian bumps at
# (u, v) = (outwards from the midline, down from the eye line) on the neutral model face, in IOD
# units, mirrored to both sides, each moving (outwards, down) by its peak at intensity 1. These
# make the skin bunch where FACS describes the fold: the cheeks against the lower lids (AU6/AU12),
# the nose root (AU9), beside the nose wings (AU9/AU10), the chin boss (AU17).
TISSUE_BUMPS: dict[int, tuple[tuple[tuple[float, float], tuple[float, float], float], ...]] = {
    6: (((0.45, 0.45), (0.0, -0.06), 0.18), ((0.5, 0.12), (0.0, -0.03), 0.08)),
    # AU9: the nose root and the skin beside the nose wings bunch up, and the raised cheeks narrow the eyes
    # from below. The sides of the nose itself are left where they are: lifted, they pinched the nose into
    # another shape (by eye) and cost identity (disgust's median distance 0.531 -> 0.498 without them).
    9: (((0.0, 0.22), (0.0, -0.05), 0.1), ((0.32, 0.45), (0.0, -0.04), 0.12), ((0.5, 0.12), (0.0, -0.025), 0.08)),
    10: (((0.3, 0.62), (0.0, -0.05), 0.12), ((0.0, 0.86), (0.0, -0.035), 0.12)),  # and the whole upper lip, not an M
    12: (((0.5, 0.6), (0.02, -0.05), 0.2),),
    17: (((0.0, 1.45), (0.0, -0.05), 0.12),),
}
SPREAD_IOD = 0.09  # Gaussian radius of a hand move on the mesh
# Brows carry the forehead above them (skin bunches there, not at the brow), so their moves reach
# far upwards and little downwards.
BROWS = tuple(range(17, 27))
BROW_SPREAD_UP_IOD, BROW_SPREAD_DOWN_IOD = 0.35, 0.12
# Across the face a brow's move reaches as far above it as below it. With one radius for both axes, the skin
# between the brows followed them above their heads (0.35 IOD) and barely below (0.12): raised inner brows
# (fear, sadness) left a tall pale column of stretched nose-root skin between them, and lowered ones (anger)
# folded the forehead over the skin between them into a sharp V and a crease.
BROW_SPREAD_ACROSS_IOD = 0.2
# A radius that reaches further one way (a brow's upwards, a lower lip's down over a dropping jaw) grows to
# it over this distance beyond the landmark. Switched at a brow landmark's own height, the weight jumped
# there (at 0.2 IOD to the side, 0.85 above against 0.25 below): AU4 kinked the upper-lid crease into
# steps at 512 px.
SPREAD_RAMP_IOD = 0.04
INNER_BROW = (20, 21, 22, 23)  # 68-point brow landmarks nearest the midline
INNER_BROW_LOWERING = -4  # cache key of AU4's vertical move of the inner brow alone
# With the jaw dropping (AU26), parted lips (AU25) ride on it: the lower lip's move reaches down over the
# chin, growing from SPREAD_IOD to this radius below each lower-lip landmark. Spread as narrowly as every
# other move, it left the skin below behind and the lip folded over it (a notch or a drip under the
# lower lip of surprise and fear at 512 px, where the warp's triangles turned over).
LOWER_LIP = (55, 56, 57, 58, 59, 65, 66, 67)
LIP_ON_JAW_SPREAD_DOWN_IOD = 0.2
LIPS_ON_JAW = -25  # cache key of AU25's field with the lower lip on a dropping jaw
# Hand moves left out on the mesh: AU4's push on the upper lids would close the glare of anger (AU5).
HAND_SKIPS = {4: (37, 38, 43, 44)}


@dataclass(frozen=True)
class FaceFrame:
    """One face's mesh and what every field needs of it, computed once per face."""
    mesh: np.ndarray  # (478, 3) pixels
    iod: float
    similarity: np.ndarray  # (2, 2) model units -> pixels (scale x rotation)
    spread: np.ndarray  # (478, 68) Gaussian weights of each landmark's move at each vertex, seam-aware
    lip_on_jaw_spread: np.ndarray  # the same with the lower lip's moves reaching down over the chin
    landmarks: np.ndarray  # (68, 2)
    mouth_side: np.ndarray  # (478,) +1 above the lip seam, -1 below, 0 away from the mouth
    fields: dict[int, np.ndarray] = field(default_factory=dict)  # AU -> its field at intensity 1 (cache)


def similarity_fit(model_points: np.ndarray, face_points: np.ndarray) -> np.ndarray:
    """The 2x2 scale-rotation taking centred model points to centred face points (Umeyama, no reflection)."""
    a = model_points - model_points.mean(0)
    b = face_points - face_points.mean(0)
    u, s, vt = np.linalg.svd(b.T @ a)
    d = np.sign(np.linalg.det(u @ vt))
    rotation = u @ np.diag([1.0, d]) @ vt
    scale = (s * [1.0, d]).sum() / (a ** 2).sum()
    return scale * rotation


def _sides(mesh: np.ndarray, iod: float) -> tuple[np.ndarray, np.ndarray]:
    """Per vertex: +1 above / -1 below the lip seam (inside the mouth's span), 0 elsewhere; same for eyelids."""
    x, y = mesh[:, 0], mesh[:, 1]
    seam = mesh[list(INNER_UPPER_LIP), :2]
    order = np.argsort(seam[:, 0])
    seam_y = np.interp(x, seam[order, 0], seam[order, 1])
    in_mouth = (x > seam[:, 0].min() - 0.05 * iod) & (x < seam[:, 0].max() + 0.05 * iod) & \
               (np.abs(y - seam_y) < 0.6 * iod)
    mouth = np.where(in_mouth, np.where(y <= seam_y, 1, -1), 0)
    # Closed lips put the inner lower lip on the seam itself: its side comes from the mesh, not from y.
    mouth[list(INNER_UPPER_LIP[1:-1])] = 1
    mouth[list(INNER_LOWER_LIP[1:-1])] = -1
    eyes = np.zeros(len(mesh), int)
    for corners in (RIGHT_EYE_CORNERS, LEFT_EYE_CORNERS):
        a, b = mesh[list(corners), :2]
        lo, hi = min(a[0], b[0]) - 0.08 * iod, max(a[0], b[0]) + 0.08 * iod
        line_y = a[1] + (b[1] - a[1]) * (x - a[0]) / (b[0] - a[0])
        inside = (x > lo) & (x < hi) & (np.abs(y - line_y) < 0.3 * iod)
        eyes = np.where(inside, np.where(y <= line_y, 1, -1), eyes)
    return mouth, eyes


def smoothstep(t: np.ndarray) -> np.ndarray:
    """0 below 0, 1 above 1, and an S between with no kink at either end."""
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def nearest_distance(points: np.ndarray, to: np.ndarray) -> np.ndarray:
    """Per point of `points` (n, 2), its distance to the nearest point of `to` (k, 2)."""
    return np.sqrt(((points[:, None] - to[None]) ** 2).sum(-1).min(1))


def outline_moved(mesh: np.ndarray, by: float) -> np.ndarray:
    """The face's outline (FACE_OVAL points of `mesh`) moved `by` pixels outwards from its centre (inwards if
    negative), as a polygon."""
    oval = mesh[list(FACE_OVAL), :2]
    outward = oval - oval.mean(0)
    return oval + by * outward / np.maximum(np.linalg.norm(outward, axis=1, keepdims=True), 1e-6)


def _ramped_radius(beyond: np.ndarray, iod: float, near: float, far: float) -> np.ndarray:
    """A spreading radius (IOD) that grows from `near` at a landmark to `far` once a point lies SPREAD_RAMP_IOD
    beyond it (`beyond`: pixels past the landmark in the reaching direction), so that the weight is
    continuous."""
    t = smoothstep(beyond / (SPREAD_RAMP_IOD * iod))  # no kink where the ramp starts or ends
    return np.sqrt(near ** 2 + (far ** 2 - near ** 2) * t)


def spread_weights(points: np.ndarray, landmarks: np.ndarray, iod: float, top: float,
                   lip_on_jaw: bool = False) -> np.ndarray:
    """(n, 68) Gaussian weight of each landmark's move at each point: SPREAD_IOD around most landmarks;
    around a brow landmark BROW_SPREAD_UP_IOD above it (the forehead goes with the brow), BROW_SPREAD_DOWN_IOD
    below and BROW_SPREAD_ACROSS_IOD to either side; with `lip_on_jaw`, around a lower-lip landmark
    LIP_ON_JAW_SPREAD_DOWN_IOD below it."""
    offset = points[:, None, :] - landmarks[None, :, :]
    brow = np.isin(np.arange(len(landmarks)), BROWS)[None, :]
    radius = np.where(brow, _ramped_radius(-offset[..., 1], iod, BROW_SPREAD_DOWN_IOD, BROW_SPREAD_UP_IOD),
                      SPREAD_IOD)
    if lip_on_jaw:
        lower_lip = np.isin(np.arange(len(landmarks)), LOWER_LIP)[None, :]
        radius = np.where(lower_lip, _ramped_radius(offset[..., 1], iod, SPREAD_IOD, LIP_ON_JAW_SPREAD_DOWN_IOD),
                          radius)
    across = iod * np.where(brow, BROW_SPREAD_ACROSS_IOD, radius)
    radius = iod * radius
    spread = np.exp(-offset[..., 0] ** 2 / (2 * across ** 2) - offset[..., 1] ** 2 / (2 * radius ** 2))
    # The scalp barely moves: above a brow its pull fades to nothing at `top`, the top of the mesh (the
    # hairline or beyond), so raised brows bunch the forehead instead of pushing skin into the hair.
    above = np.clip((points[:, None, 1] - top) / np.maximum(landmarks[None, :, 1] - top, 1.0), 0.0, 1.0)
    return np.where(brow & (offset[..., 1] < 0), spread * above, spread)


def face_frame(mesh: np.ndarray, landmarks: np.ndarray, model: MeshModel) -> FaceFrame:
    iod = inter_ocular(mesh)
    stable = list(STABLE_POINTS)
    similarity = similarity_fit(model.neutral[stable, :2], mesh[stable, :2])
    mouth, eyes = _sides(mesh, iod)
    lm_mouth = np.array([_LM_MOUTH.get(i, 0) for i in range(68)])
    lm_eyes = np.array([_LM_EYES.get(i, 0) for i in range(68)])
    crosses = ((mouth[:, None] * lm_mouth[None, :]) < 0) | ((eyes[:, None] * lm_eyes[None, :]) < 0)
    spreads = [np.where(crosses, 0.0, spread_weights(mesh[:, :2], landmarks, iod, top=mesh[FACE_OVAL[0], 1],
                                                     lip_on_jaw=on_jaw)) for on_jaw in (False, True)]
    return FaceFrame(mesh, iod, similarity, *spreads, landmarks, mouth)


_region_cache: dict[tuple[int, int | str], np.ndarray] = {}


def _region_weights(model: MeshModel, au: int) -> np.ndarray:
    """Soft 0-1 weight per vertex of where a model AU may act (in the model's neutral frame): within its band
    of the face, fading to nothing at the outline (but for a jaw AU's jaw line)."""
    uv = _canonical_uv(model)
    v = uv[:, 1]
    low, high = _MODEL_REGIONS[au]
    ramp = 0.12
    weight = np.clip((v - low) / ramp + 0.5, 0, 1) * np.clip((high - v) / ramp + 0.5, 0, 1)
    inside = _inside_outline(model)
    fade = smoothstep(inside / OUTLINE_FADE_IOD)
    if au in _JAW_AUS:  # the jaw line moves with the jaw, the rest of the outline does not
        fade = np.where(v >= JAW_SIDE_V, 1.0, fade)
        fade[(inside == 0) & (v < JAW_LINE_V)] = 0.0
    return weight * fade


def _inside_outline(model: MeshModel) -> np.ndarray:
    """Each vertex's distance inside the neutral model face's outline, in IOD units (0 on it)."""
    key = (id(model), "outline")
    if key not in _region_cache:
        uv = _canonical_uv(model)
        oval = uv[list(FACE_OVAL)].astype(np.float32)
        _region_cache[key] = np.array([max(0.0, cv2.pointPolygonTest(oval, (float(u), float(v)), True))
                                       for u, v in uv])
    return _region_cache[key]


def model_field(frame: FaceFrame, model: MeshModel, au: int) -> np.ndarray:
    key = (id(model), au)
    if key not in _region_cache:
        _region_cache[key] = _region_weights(model, au)
    delta = model.deltas[au][:, :2] * _region_cache[key][:, None]
    return delta @ frame.similarity.T


_uv_cache: dict[int, np.ndarray] = {}


def _canonical_uv(model: MeshModel) -> np.ndarray:
    """Each vertex of the neutral model face as (signed u, v) in IOD units from the midline / eye line
    (computed once per model)."""
    if id(model) not in _uv_cache:
        n = model.neutral
        iod = inter_ocular(n)
        midline = n[[168, 6, 197, 195, 4, 1], 0].mean()
        eye_line = n[[33, 133, 362, 263], 1].mean()
        _uv_cache[id(model)] = np.stack([(n[:, 0] - midline) / iod, (n[:, 1] - eye_line) / iod], 1)
    return _uv_cache[id(model)]


def tissue_field(frame: FaceFrame, model: MeshModel, au: int) -> np.ndarray:
    uv = _canonical_uv(model)
    side = np.sign(uv[:, 0])
    canonical = np.zeros((len(uv), 2))
    for (u, v), (du_out, dv), radius in TISSUE_BUMPS.get(au, ()):
        centre_u = np.where(side < 0, -u, u)  # mirrored bump on each side
        weight = np.exp(-((uv[:, 0] - centre_u) ** 2 + (uv[:, 1] - v) ** 2) / (2 * radius ** 2))
        canonical[:, 0] += weight * du_out * side
        canonical[:, 1] += weight * dv
    model_iod = inter_ocular(model.neutral)
    return (canonical * model_iod) @ frame.similarity.T


def hand_field(frame: FaceFrame, au: int, only: tuple[int, ...] | None = None, axis: int | None = None,
               weights: np.ndarray | None = None) -> np.ndarray:
    """One AU's 68-point moves spread over the mesh (by `weights`, the face's `spread` if not given); `only`
    these landmarks and `axis` (0: x, 1: y) if given."""
    moves = displaced_landmarks(frame.landmarks, {au: 1.0}) - frame.landmarks
    moves[list(HAND_SKIPS.get(au, ()))] = 0.0
    if only is not None:
        moves[np.setdiff1d(np.arange(len(moves)), only)] = 0.0
    if axis is not None:
        moves[:, 1 - axis] = 0.0
    weights = frame.spread if weights is None else weights
    total = np.maximum(weights.sum(1, keepdims=True), 1.0)  # normalise only where moves overlap
    return (weights @ moves) / total


def side_weights(model: MeshModel, side: str) -> np.ndarray:
    """Per vertex, 1 on the subject's `side` of the face, 0 on the other, ramped across the midline."""
    return np.clip(0.5 + image_side(side) * _canonical_uv(model)[:, 0] / 0.2, 0.0, 1.0)


def displacement(frame: FaceFrame, model: MeshModel, aus: dict[int, float], side: str | None = None) -> np.ndarray:
    """(478, 2) pixel moves of the mesh for AU intensities (already calibrated); `side` for unilateral AUs."""
    unknown = sorted(set(aus) - set(SOURCES))
    if unknown:
        raise ValueError(f"action units {unknown} are not supported by mesh_warp (supported: {SUPPORTED_AUS})")
    total = np.zeros((len(frame.mesh), 2))
    for au, intensity in aus.items():
        key = LIPS_ON_JAW if au == 25 and aus.get(26, 0.0) > 0 else au
        if key not in frame.fields:
            frame.fields[key] = au_field(frame, model, au, on_jaw=key == LIPS_ON_JAW)
        total += intensity * frame.fields[key]
    # FACS 1+4 (fear, sadness): the inner brows are raised and drawn together. AU1's frontalis pull holds
    # the inner brow up against AU4's lowering there, so AU4 keeps its pull towards the midline (and its
    # lowering of the lateral brow) and loses its inner lowering up to AU1's intensity.
    held = min(aus.get(1, 0.0), aus.get(4, 0.0))
    if held > 0:
        if INNER_BROW_LOWERING not in frame.fields:
            frame.fields[INNER_BROW_LOWERING] = hand_field(frame, 4, only=INNER_BROW, axis=1)
        total -= held * frame.fields[INNER_BROW_LOWERING]
    if side:
        total *= side_weights(model, side)[:, None]
    return lips_meet(frame, total)


LIP_YIELD_IOD = 0.12  # how far from the seam the lips give way where they press on each other


def lips_meet(frame: FaceFrame, moves: np.ndarray) -> np.ndarray:
    """`moves` with lips that meet instead of passing through each other. AU17 and AU24 push the lower
    lip up against the upper one; summed as fields they would cross, fold the warp's triangles over and
    tear the mouth. Where an inner-lip pair would cross, each lip gives way by half the overlap, fully at
    the seam and less towards the lips' outer edges."""
    after = frame.mesh[:, :2] + moves
    upper, lower = (list(side) for side in zip(*INNER_LIP_PAIRS))
    overlap = np.clip(after[upper, 1] - after[lower, 1], 0.0, None)
    if overlap.max() <= 1e-6:
        return moves
    x = after[upper, 0]
    order = np.argsort(x)
    seam_x, seam_y = frame.mesh[upper, 0], frame.mesh[upper, 1]
    at_seam_y = np.interp(frame.mesh[:, 0], seam_x[np.argsort(seam_x)], seam_y[np.argsort(seam_x)])
    half = 0.5 * np.interp(after[:, 0], x[order], overlap[order], left=0.0, right=0.0)
    near = np.exp(-((frame.mesh[:, 1] - at_seam_y) / (LIP_YIELD_IOD * frame.iod)) ** 2 / 2)
    moves = moves.copy()
    moves[:, 1] -= frame.mouth_side * half * near  # the upper lip (+1) up, the lower lip (-1) down
    return moves


def au_field(frame: FaceFrame, model: MeshModel, au: int, on_jaw: bool = False) -> np.ndarray:
    """One AU's field at intensity 1: its sources, weighted; `on_jaw`: its hand moves spread as on a dropping
    jaw (`lip_on_jaw_spread`)."""
    model_weight, hand_weight = SOURCES[au]
    out = np.zeros((len(frame.mesh), 2))
    if model_weight and au in model.deltas:
        out += model_weight * model_field(frame, model, au)
    if hand_weight and au in AU_MOVES:
        out += hand_weight * hand_field(frame, au, weights=frame.lip_on_jaw_spread if on_jaw else None)
    if au in TISSUE_BUMPS:
        out += tissue_field(frame, model, au)
    return out
