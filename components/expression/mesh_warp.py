"""The `mesh_warp` editor: AU displacement fields on MediaPipe's 478-point mesh, a piecewise-affine
warp over the mesh, and appearance that follows from the deformation.

Per face (once): the mesh, a pose check, the similarity fit of py-feat's model mesh onto it, and the
seam-aware spreading weights of the 68-point hand moves, the hair over the forehead, and real faces'
AU9 creases and AU1/AU2 forehead lines laid onto it (ratio images, `mesh_ratio`). Per edit: the AUs'
fields are summed, the crop is warped triangle by triangle (skin texture is carried, never painted), the
parted lips get a mouth interior lit like the face, skin compressed by the warp gets folds from its own
contrast, and AU9, AU1 and AU2 bring the real creases, carried by the same warp.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.spatial import Delaunay

from components.common.face_mesh import (LEFT_IRIS, LEFT_LOWER_LID, LEFT_UPPER_LID, RIGHT_IRIS, RIGHT_LOWER_LID,
                                         RIGHT_UPPER_LID, MeshError, detect_mesh, head_pose)

from .au_warp import Edit
from .editors import EditRejected
from .mesh_appearance import (CHIN, Lips, carried_ratio, fold_shading, forehead_strength, keep_open_mouth, lay_ratio,
                              paint_mouth, polygon_mask, teeth_colour)
from .mesh_eyes import carry_lashes, follow_lids, keep_eyeballs, limit_lid_raise
from .mesh_fields import FaceFrame, displacement, face_frame, nearest_distance, outline_moved, smoothstep
from .mesh_hair import Fringe, find_fringe, keep_off_the_skin, lay_over
from .mesh_maps import (WarpGrid, backward_map, image_corners, locate, signed_areas, triangulate, warp_grid,
                        warp_ring)
from .mesh_model import MeshModel, load_mesh_model
from .mesh_ratio import RatioImage, lay_on_face

MAX_YAW = 30.0  # degrees: beyond this the frontal model's fields no longer fit the face
# Intensity 1 of an AU, relative to the fields' own scale (model rows and hand tables): set by the
# recognisability benchmark on real neutral faces and by eye (README, "mesh_warp").
CALIBRATION = 1.4
AU_GAIN = {1: 1.2, 4: 1.5, 7: 1.3, 9: 1.3, 10: 1.2, 12: 2.0, 15: 1.4, 20: 1.3, 23: 1.4, 24: 1.4, 26: 1.4}


@dataclass
class PreparedFace:
    frame: FaceFrame
    src: np.ndarray  # (478 + anchors, 2) mesh points then the fixed ring and image corners
    tri: Delaunay  # of src: the skin's own triangles, for finding folds and flowing moves over them
    unfoldable: np.ndarray  # per src point, 0-1: how far its moves may give way to the flow near a fold
    fringe: Fringe  # hair over the forehead: the skin moves under it
    nose_wrinkles: np.ndarray | None  # (h, w) a real face's AU9 ratio image laid onto this one (mesh_ratio)
    forehead_wrinkles: np.ndarray | None  # (h, w) a real face's AU1/AU2 forehead lines, laid alike
    landmarks_in_mesh: tuple[np.ndarray, np.ndarray]  # the 68 landmarks as barycentric mixes of src points
    grid: WarpGrid
    outside: np.ndarray  # (h, w) bool: beyond the pinned ring, where the crop is never touched


ONTO_OUTLINE_IOD = 0.05  # folds shade this far past the mesh's outline (a cheek's crease reaches its edge)


def on_the_face(ratio: np.ndarray, mesh: np.ndarray, iod: float) -> np.ndarray:
    """The area ratio with no compression outside the face's outline: the band between the outline and
    the warp's fixed ring holds background, hair and ears, and folds shaded there were grey smudges
    beside the jaw on a light background."""
    face = polygon_mask(ratio.shape, outline_moved(mesh, ONTO_OUTLINE_IOD * iod), 0.03 * iod)
    return 1.0 - (1.0 - ratio) * face


def turned_over(src: np.ndarray, dst: np.ndarray, iod: float) -> tuple[np.ndarray, np.ndarray]:
    """The warp's triangles (over the moved points, as the warp draws them; (k, 3) point indices), and
    whether each is turned over against the points before the move (slivers under 0.01 IOD never are)."""
    triangles = triangulate(dst).simplices
    return triangles, _turned(src, dst, triangles, iod)


def _turned(src: np.ndarray, dst: np.ndarray, triangles: np.ndarray, iod: float) -> np.ndarray:
    """Per triangle: its orientation differs before and after the move (slivers under 0.01 IOD across aside)."""
    before, after = signed_areas(src[triangles]), signed_areas(dst[triangles])
    return (np.sign(before) != np.sign(after)) & (np.abs(before) > (0.01 * iod) ** 2)


# Summed fields can move one point past its neighbour: a triangle of skin turns over and is drawn mirrored (a
# crease, a squiggle or a second edge at full resolution: anger's brows pulled down past the skin between them,
# a smile's cheeks on the demo's rough GAN meshes). Near such a fold the moves become the flow of the same field:
# every point follows the field in small steps, so skin that is pushed together bunches (and is shaded as a
# fold) instead of passing over itself. Farther than a few UNFOLD_REACH_IOD, moves are unchanged. Only the upper
# face is unfolded, and not the lids: where the lips and lids part, the field jumps from one side to the other,
# and a flow across the jump drags each side into the other (a surprised upper lip sagged into the opening).
UNFOLD_REACH_IOD = 0.07
UNFOLD_STEPS = 4
SEAM_CLEAR_IOD = 0.05  # the lids keep their moves; the flow fades in over this distance from them (and the nose's base)
EYE_SEAMS = list(set(RIGHT_UPPER_LID + RIGHT_LOWER_LID + LEFT_UPPER_LID + LEFT_LOWER_LID + RIGHT_IRIS + LEFT_IRIS))
NOSE_BASE = 2  # the mesh point under the nose tip: below it nothing is unfolded
MIDLINE = 168  # the mesh point between the eyes


def folds(tri: Delaunay, moves: np.ndarray, iod: float) -> np.ndarray:
    """Per triangle of `tri` (the skin's own): turned over by `moves` (slivers under 0.01 IOD across never are).
    Skin squeezed but not turned over is left as it is: that is the bunching the fields are meant to make."""
    return _turned(tri.points, tri.points + moves, tri.simplices, iod)


def flow(tri: Delaunay, moves: np.ndarray, points: np.ndarray, steps: int = UNFOLD_STEPS) -> np.ndarray:
    """Where `points` end when they follow the field that `moves` spans over `tri` (piecewise linear) for
    unit time, in `steps` midpoint steps: a flow never turns skin over, however steep the field."""
    def velocity(at: np.ndarray) -> np.ndarray:
        vertices, weights = locate(tri, at)
        return np.einsum("ni,nij->nj", weights, moves[vertices])
    for _ in range(steps):
        points = points + velocity(points + 0.5 * velocity(points) / steps) / steps
    return points


def unfoldable(points: np.ndarray, iod: float) -> np.ndarray:
    """Per warp point, 0-1: how far its moves may be replaced by the flow. The upper face only (to the nose's
    base), and clear of the lids and irises: around the mouth, the lips' and the jaw's moves stay as they are."""
    from_seams = nearest_distance(points, points[EYE_SEAMS])
    above_nose_base = points[NOSE_BASE, 1] - points[:, 1]
    return smoothstep(from_seams / (SEAM_CLEAR_IOD * iod)) * smoothstep(above_nose_base / (SEAM_CLEAR_IOD * iod))


def unfold(tri: Delaunay, moves: np.ndarray, iod: float, allowed: np.ndarray) -> np.ndarray:
    """`moves` with the flow of their field near every fold where it is `allowed` (per point, 0-1: `unfoldable`),
    blended into the moves themselves over UNFOLD_REACH_IOD."""
    points, triangles = tri.points, tri.simplices
    folded = folds(tri, moves, iod) & (allowed[triangles] > 0).all(1)
    if not folded.any():
        return moves
    at_fold = points[np.unique(triangles[folded])]
    distance = nearest_distance(points, at_fold)
    beyond = np.maximum(distance / (UNFOLD_REACH_IOD * iod) - 1.0, 0.0)  # all flow within the reach, then fading
    weight = np.exp(-beyond ** 2 / 2) * allowed
    near = weight > 1e-3
    moves = moves.copy()
    flowed = flow(tri, moves, points[near]) - points[near]
    moves[near] += weight[near, None] * (flowed - moves[near])
    return moves


class MeshWarpEditor:
    name = "mesh_warp"

    def __init__(self, strength: float = 1.0, appearance: bool = True, model: MeshModel | None = None,
                 max_yaw: float = MAX_YAW, nose_wrinkles: tuple[RatioImage, ...] = (),
                 forehead_wrinkles: tuple[RatioImage, ...] = ()):
        self.strength = strength
        self.nose_wrinkles = nose_wrinkles  # AU9's fine creases, from real faces' ratio images
        self.forehead_wrinkles = forehead_wrinkles  # AU1/AU2's forehead lines, likewise
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
        shape = crop.shape[:2]
        ring = warp_ring(mesh, shape)
        src = np.vstack([mesh[:, :2], ring, image_corners(shape)])
        inside = np.zeros(shape, np.uint8)
        cv2.fillPoly(inside, [np.round(ring).astype(np.int32)], 1)
        tri = triangulate(src)
        frame = face_frame(mesh, landmarks, self.model)
        fringe = find_fringe(crop, mesh[:, :2], frame.iod)
        nose, forehead = lay_on_face(crop, mesh, frame.iod, self.nose_wrinkles, self.forehead_wrinkles)
        return PreparedFace(frame, src, tri, unfoldable(src, frame.iod), fringe, nose, forehead,
                            locate(tri, landmarks), warp_grid(ring, shape), inside == 0)

    def moves(self, face: PreparedFace, aus: dict[int, float], side: str | None = None) -> np.ndarray | None:
        """How far each of the warp's points (`face.src`) moves for these AU intensities, in pixels; None for
        no AU."""
        aus = {au: v * self.strength * CALIBRATION * AU_GAIN.get(au, 1.0) for au, v in aus.items() if v > 0}
        if not aus:
            return None
        frame = face.frame
        moves = np.vstack([displacement(frame, self.model, aus, side), np.zeros((len(face.src) - len(frame.mesh), 2))])
        if aus.get(5, 0.0) > 0:
            moves[:len(frame.mesh)] = limit_lid_raise(frame.mesh, moves[:len(frame.mesh)], aus[5] * frame.fields[5],
                                                      frame.iod)
        lids_moved = carry_lashes(frame.mesh, moves[:len(frame.mesh)])
        moves[:len(frame.mesh)] = keep_off_the_skin(follow_lids(frame.mesh, lids_moved), face.fringe)
        return unfold(face.tri, moves, frame.iod, face.unfoldable)

    def _real_creases(self, face: PreparedFace, image: np.ndarray, aus: dict[int, float], map_x: np.ndarray,
                      map_y: np.ndarray) -> np.ndarray:
        """The real faces' creases laid onto this one (`mesh_ratio`), carried by the warp like the skin: AU9's at
        the nose root, AU1's and AU2's across the middle and the sides of the forehead."""
        if face.nose_wrinkles is not None and aus.get(9, 0.0) > 0:
            image = lay_ratio(image, carried_ratio(face.nose_wrinkles, map_x, map_y), aus[9] * self.strength)
        if face.forehead_wrinkles is not None and max(aus.get(1, 0.0), aus.get(2, 0.0)) > 0:
            raised = {au: aus.get(au, 0.0) * self.strength for au in (1, 2)}
            strength = forehead_strength(face.frame.mesh[MIDLINE, 0], face.frame.iod, image.shape[1], raised)
            image = lay_ratio(image, carried_ratio(face.forehead_wrinkles, map_x, map_y), strength)
        return image

    def edit(self, face: PreparedFace, crop: np.ndarray, aus: dict[int, float], side: str | None = None) -> Edit:
        frame = face.frame
        moves = self.moves(face, aus, side)
        if moves is None:
            return Edit(crop.copy(), frame.landmarks.copy())
        h, w = crop.shape[:2]
        map_x, map_y, ratio = backward_map(face.src, face.src + moves, (h, w), face.grid)
        out = cv2.remap(crop, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        edited_mesh = frame.mesh[:, :2] + moves[:len(frame.mesh)]
        if self.appearance:
            out = fold_shading(out, on_the_face(ratio, edited_mesh, frame.iod), frame.iod)
            out = self._real_creases(face, out, aus, map_x, map_y)
        out = lay_over(out, crop, face.fringe)
        out = keep_eyeballs(out, crop, frame.mesh[:, :2], edited_mesh, frame.iod, map_x, map_y)
        # a mouth that was open keeps its own teeth with skull and jaw, or its dark opening as carried
        kept = keep_open_mouth(out, crop, Lips.of_mesh(frame.mesh), Lips.of_mesh(edited_mesh),
                               edited_mesh[CHIN] - frame.mesh[CHIN, :2], teeth_colour(crop, frame.mesh[:, :2]),
                               (map_x, map_y), frame.iod)
        out = paint_mouth(kept.image, crop, frame.mesh[:, :2], edited_mesh, frame.iod, kept)
        out[face.outside] = crop[face.outside]
        vertices, weights = face.landmarks_in_mesh
        return Edit(out, frame.landmarks + np.einsum("ni,nij->nj", weights, moves[vertices]))
