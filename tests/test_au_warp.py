import cv2
import numpy as np
import pytest

from components.common.faces import FaceDetector, align
from components.common.landmarks import LandmarkError, detect_on_aligned
from components.expression.au_warp import (AU_GAIN, CALIBRATION, AUWarpEditor, appearance_layer, border_anchors,
                                           displaced_landmarks, face_frame, face_seed, lips_meet, thin_plate_map, warp,
                                           warp_maps)


@pytest.fixture(scope="module")
def face(astronaut):
    (found,) = FaceDetector().detect([astronaut])
    crop = align(astronaut, found[0].landmarks, 160).crop
    return crop, detect_on_aligned(crop)


def _redetected_move(face, aus, indices):
    crop, lm = face
    edited = AUWarpEditor(appearance=False).edit(crop, lm, aus).image
    after = detect_on_aligned(edited)
    _, iod = face_frame(lm)
    return (after[indices] - lm[indices]).mean(0) / iod


def test_identity_warp_changes_nothing(face):
    crop, lm = face
    assert np.abs(warp(crop, lm, lm).astype(int) - crop).max() <= 1


def test_au12_pulls_lip_corners_up_and_out(face):
    crop, lm = face
    left = _redetected_move(face, {12: 1.0}, [54])
    right = _redetected_move(face, {12: 1.0}, [48])
    assert left[1] < -0.02 and right[1] < -0.02  # up
    assert left[0] > 0.02 and right[0] < -0.02  # outwards on both sides


def test_au4_lowers_and_draws_together_the_inner_brows(face):
    move = _redetected_move(face, {4: 1.0}, [21, 22])
    assert move[1] > 0.03


def test_au26_drops_the_jaw(face):
    crop, lm = face
    assert _redetected_move(face, {26: 1.0}, [57, 8])[1] > 0.05
    # ... and the opened mouth is a dark cavity, not stretched skin.
    edited = AUWarpEditor().edit(crop, lm, {26: 1.0})
    inner = edited.landmarks[[61, 62, 63, 65, 66, 67]]
    centre = inner.mean(0).astype(int)
    assert edited.image[centre[1], centre[0]].mean() < crop[centre[1], centre[0]].mean() - 40


def test_the_mouth_takes_its_colour_from_the_face(face):
    crop, lm = face
    grey = np.repeat(crop.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32), 3).reshape(crop.shape)
    grey = np.round(grey).astype(np.uint8)
    opened = {26: 1.0, 25: 1.0}
    colour_edit, grey_edit = AUWarpEditor().edit(crop, lm, opened), AUWarpEditor().edit(grey, lm, opened)
    x, y = grey_edit.landmarks[[61, 62, 63, 65, 66, 67]].mean(0).astype(int)
    mouth = np.s_[y - 2:y + 3, x - 4:x + 5]
    assert np.ptp(grey_edit.image[mouth].astype(int), axis=-1).max() <= 2  # a grey photo: a grey cavity
    reds = colour_edit.image[mouth].astype(int)
    assert (reds[..., 0] > reds[..., 2]).mean() > 0.9  # a colour photo: the lips' warm hue in shadow


def test_au4_appearance_darkens_the_glabella(face):
    crop, lm = face
    with_texture = AUWarpEditor(appearance=True).edit(crop, lm, {4: 1.0}).image.astype(float)
    without = AUWarpEditor(appearance=False).edit(crop, lm, {4: 1.0}).image.astype(float)
    x = int(lm[27, 0])
    y = int(min(lm[21, 1], lm[22, 1]))
    patch = np.s_[y - 2:y + 12, x - 12:x + 12]
    assert with_texture[patch].mean() < without[patch].mean() - 3


def test_unknown_au_and_missing_face():
    crop = np.zeros((128, 128, 3), np.uint8)
    with pytest.raises(LandmarkError):
        detect_on_aligned(crop)
    lm = np.random.RandomState(0).rand(68, 2) * 100
    with pytest.raises(ValueError, match="not supported"):
        AUWarpEditor().edit(crop, lm, {99: 1.0})


def test_unilateral_targets_move_one_side(face):
    crop, lm = face
    moved = AUWarpEditor(appearance=True).edit(crop, lm, {12: 1.0, 14: 1.0}, side="left").landmarks
    assert np.allclose(moved[48], lm[48]) and not np.allclose(moved[54], lm[54])


def _crease_rows(layer: np.ndarray, x: int, top: int, bottom: int) -> np.ndarray:
    """Rows of the local minima (creases) of the layer's column x between top and bottom."""
    column = layer[top:bottom, x]
    inner = (column[1:-1] < column[:-2]) & (column[1:-1] <= column[2:]) & (column[1:-1] < -0.01)
    return np.flatnonzero(inner) + 1 + top


def test_forehead_creases_are_the_faces_own_and_unevenly_spaced(face):
    # au_warp drew three evenly spaced parallel stripes on every forehead: painted, not photographed. Then
    # three uneven ones on every forehead, which still read as a set.
    _, lm = face
    midline, iod = face_frame(lm)
    top, bottom, x = int(lm[19, 1] - 0.75 * iod), int(lm[19, 1]), int(midline)
    raised = {1: 1.0, 2: 1.0}
    rows = _crease_rows(appearance_layer(lm, raised, 160, face_seed(lm)), x, top, bottom)
    assert len(rows) >= 2
    gaps = np.diff(rows)
    assert len(rows) == 2 or gaps.max() - gaps.min() >= 2  # not a regular ladder
    same_face = _crease_rows(appearance_layer(lm, {1: 0.5, 2: 0.5}, 160, face_seed(lm)), x, top, bottom)
    assert np.array_equal(rows, same_face)  # the same creases at another intensity
    others = [tuple(_crease_rows(appearance_layer(lm, raised, 160, seed), x, top, bottom)) for seed in range(6)]
    assert len(set(others)) >= 3  # other faces crease elsewhere
    assert len({len(rows) for rows in others}) >= 2  # and not always as many times


def test_the_nose_wrinkler_creases_the_nose_root_not_the_middle_of_the_bridge(face):
    # AU9 drew three wide strokes across the middle of the nose, blurred into a brown smear. It bunches the
    # skin at the nose's root: short, thin creases there, each face's own, and the bridge below left alone.
    _, lm = face
    midline, iod = face_frame(lm)
    top, bottom = lm[27, 1], lm[30, 1]
    across = slice(int(midline - 0.05 * iod), int(midline + 0.05 * iod) + 1)
    for seed in (face_seed(lm), 0, 1, 2):
        layer = appearance_layer(lm, {9: 1.6}, 160, seed)
        root = layer[int(top):int(top + 0.35 * (bottom - top)) + 1, across]
        bridge = layer[int(top + 0.5 * (bottom - top)):int(bottom) + 1, across]
        assert root.min() < -0.05 and bridge.min() > -0.02


def test_no_painted_highlight_on_smiling_cheeks_and_one_fold_however_deep(face):
    _, lm = face
    smile = appearance_layer(lm, {6: 1.0, 12: 1.0, 25: 0.8}, 160, face_seed(lm))
    assert smile.max() <= 1e-6  # the cheeks were painted 9 % lighter: white patches
    disgust = appearance_layer(lm, {9: 1.0, 10: 1.0, 15: 0.6, 16: 0.6, 25: 0.5}, 160, face_seed(lm))
    assert disgust.min() > -0.45  # AU9 + AU10 summed drew the nasolabial fold 55 % darker


def test_the_opening_is_painted_as_mesh_warp_paints_it_teeth_on_the_skull_cavity_behind(face):
    # au_warp's opening was a flat dark hole (a grey band for teeth): it now shares mesh_warp's painter.
    crop, lm = face
    grey = crop.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    smile = AUWarpEditor().edit(crop, lm, {6: 0.8, 12: 1.0, 25: 0.8, 10: 0.4})
    x = int(round(smile.landmarks[[62, 66], 0].mean()))
    top, bottom = int(np.ceil(smile.landmarks[62, 1])), int(smile.landmarks[66, 1]) + 1
    column = (smile.image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))[top:bottom, x]
    assert bottom - top >= 3 and column.max() > grey[int(lm[29, 1]), int(lm[29, 0])] * 0.9  # teeth, as light as skin
    dropped = AUWarpEditor().edit(crop, lm, {25: 1.0, 26: 1.0})
    upper, lower = dropped.landmarks[62], dropped.landmarks[66]
    column = (dropped.image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))[
        int(upper[1]):int(lower[1]) + 1, int(round((upper[0] + lower[0]) / 2))]
    mid = column[len(column) // 3: 2 * len(column) // 3].mean()
    assert column[:max(2, len(column) // 6)].max() > mid + 30  # upper teeth over a darker depth


def test_sadness_does_not_fold_a_closed_mouth(grace_hopper_path):
    # AU17 pushes the lower lip up onto the upper one: the thin-plate warp, asked to send one point to
    # two places, folded the mouth into a curl.
    photo = cv2.cvtColor(cv2.imread(str(grace_hopper_path)), cv2.COLOR_BGR2RGB)
    (found,) = FaceDetector().detect([photo])
    crop = align(photo, found[0].landmarks, 256).crop
    lm = detect_on_aligned(crop)
    aus = {au: v * CALIBRATION for au, v in {1: 1.0, 4: 0.6, 15: 1.0, 17: 0.4}.items()}
    moved = lips_meet(lm, displaced_landmarks(lm, aus))
    assert (moved[[67, 66, 65], 1] - moved[[61, 62, 63], 1]).min() >= -1e-6
    anchors = border_anchors(256)
    map_x, map_y = thin_plate_map(np.vstack([moved, anchors]), np.vstack([lm, anchors]), 256)
    det = np.gradient(map_x, axis=1) * np.gradient(map_y, axis=0) - np.gradient(map_x, axis=0) * np.gradient(map_y, axis=1)
    assert det.min() > 0.05  # no skin turned over


def test_a_smile_that_shows_teeth_keeps_its_own_teeth_where_the_skull_holds_them(face):
    # au_warp painted over a smile's own teeth with grey, evenly gapped ones (a radiator grille).
    crop, lm = face  # the astronaut smiles with her teeth showing
    _, iod = face_frame(lm)
    smile = AUWarpEditor().edit(crop, lm, {6: 0.8, 12: 1.0, 25: 0.8})
    x, half = int(round(lm[[62, 66], 0].mean())), max(2, int(0.05 * iod))
    rows = slice(int(np.ceil(max(lm[62, 1], smile.landmarks[62, 1]))) + 1, int((lm[62, 1] + lm[66, 1]) / 2) - 1)
    own = np.s_[rows, x - half:x + half]
    assert rows.stop - rows.start >= 2 and crop[own].mean() > 150
    assert np.abs(smile.image[own].astype(int) - crop[own]).mean() < 4  # her own upper teeth, where they were


def test_a_dropped_chin_slides_the_bottom_edge_instead_of_folding_skin_against_it(face):
    # Aligned crops are tight: the chin sits near or beyond the bottom edge. With the edge pinned, the jaw
    # of surprise folded the skin between the lower lip and the edge over itself (a dark drip on the chin).
    crop, lm = face
    size = crop.shape[0]
    _, iod = face_frame(lm)
    aus = {au: v * CALIBRATION * AU_GAIN.get(au, 1.0) for au, v in {25: 1.0, 26: 1.0}.items()}
    for room in (0.1, 0.2, 0.34, 0.45, 0.7):  # IOD between the chin and the bottom edge
        src = lm + [0.0, size - 1 - room * iod - lm[8, 1]]
        moved = lips_meet(src, displaced_landmarks(src, aus))
        map_x, map_y = warp_maps(size, src, moved)
        det = np.gradient(map_x, axis=1) * np.gradient(map_y, axis=0) - \
            np.gradient(map_x, axis=0) * np.gradient(map_y, axis=1)
        assert det[int(moved[57, 1]):].min() > 0.3, room  # no skin turned over below the lower lip
        assert np.allclose(map_y[:, 0], np.arange(size), atol=0.5)  # the sides stay pinned


def test_brows_held_up_by_au1_do_not_shade_the_lids(face):
    # Fear and sadness (1+4): AU1 holds the brows up, AU4 only draws them together; the lids under them
    # were shaded as under anger's lowered brows, a dark band across the eyes.
    _, lm = face
    _, iod = face_frame(lm)
    x0, x1 = int(lm[18, 0]), int(lm[20, 0])  # under the brow, away from the glabella's furrows
    y0, y1 = int(lm[19, 1] + 0.05 * iod), int(lm[37, 1])
    lids = np.s_[y0:y1, x0:x1]
    lowered = appearance_layer(lm, {4: 2.0}, 160, face_seed(lm))[lids].mean()
    held = appearance_layer(lm, {1: 2.0, 4: 2.0}, 160, face_seed(lm))[lids].mean()
    assert lowered < -0.05 and held > lowered / 4


def test_a_dark_open_mouth_stays_dark_instead_of_filling_with_painted_teeth(grace_hopper_path):
    # A generated face often has its mouth open onto darkness: au_warp painted white teeth into the whole
    # opening of every such face's smile (a white blob at 64 px); it now keeps the dark opening as the
    # warp carries it, as mesh_warp does.
    photo = cv2.cvtColor(cv2.imread(str(grace_hopper_path)), cv2.COLOR_BGR2RGB)
    (found,) = FaceDetector().detect([photo])
    crop = align(photo, found[0].landmarks, 256).crop
    opened = AUWarpEditor().edit(crop, detect_on_aligned(crop), {25: 1.0, 26: 0.6})
    lm = opened.landmarks
    grey = opened.image.mean(2)
    centre = np.s_[int(lm[62, 1]) + 3:int(lm[66, 1]) - 2, int(lm[62, 0]) - 3:int(lm[62, 0]) + 4]
    assert grey[centre].mean() < 80  # the face to edit: its mouth open onto darkness
    smile = AUWarpEditor().edit(opened.image, lm, {6: 0.8, 12: 1.0, 25: 0.8}).image.mean(2)
    assert smile[centre].mean() < 100  # still dark: no teeth painted over the opening


def test_the_painted_opening_is_a_curve_through_the_lips_not_a_polygon_of_them():
    # Five landmarks per lip joined by straight lines cut a hexagon into the smooth lips the warp draws.
    from components.expression.mesh_appearance import Lips

    upper = np.array([[0, 0], [1, -1], [2, -1.2], [3, -1], [4, 0]], float)
    lower = np.array([[0, 0], [1, 1], [2, 1.5], [3, 1], [4, 0]], float)
    curved = Lips(upper, lower).smoothed(per_segment=4)
    assert np.allclose(curved.upper[::4], upper) and np.allclose(curved.lower[::4], lower)  # through every landmark
    for contour in (curved.upper, curved.lower[::-1]):
        step = contour[1] - contour[0]
        assert abs(step[1]) > 2 * abs(step[0])  # leaves the corner towards the other lip: a round end, no point
    middle = curved.upper[2]  # between the corner and the first landmark: above the straight chord
    assert middle[1] < -middle[0]


def test_au10_raises_the_whole_upper_lip_not_a_tent(face):
    # as a detector sees the warp alone (the teeth painted or kept under the lip move its reading either way);
    # the tent it replaced (outer parts moved 64 % as far in the table) reads 0.75 here, the arch 1.0
    crop, lm = face
    aus = {10: CALIBRATION * AU_GAIN.get(10, 1.0)}
    after = detect_on_aligned(warp(crop, lm, lips_meet(lm, displaced_landmarks(lm, aus))))
    _, iod = face_frame(lm)
    outer, centre = (after[[49, 53]] - lm[[49, 53]]).mean(0) / iod, (after[51] - lm[51]) / iod
    assert centre[1] < -0.04  # up
    assert outer[1] <= 0.9 * centre[1]  # its outer parts nearly as high: a rounded arch over the teeth
