"""Ratio images: a real face's creases, measured against its own neutral frame, laid onto another face at the same
points of the mesh; nothing of the light, the eyes or the background comes with them."""
import cv2
import numpy as np
import pytest

from components.common.face_mesh import detect_mesh, inter_ocular
from components.common.faces import FaceDetector, align
from components.common.imageio import read_image, write_image
from components.common.landmarks import detect_on_aligned
from components.expression.mesh_appearance import lay_ratio, polygon_mask
from components.expression.mesh_fields import outline_moved
from components.expression.mesh_ratio import (RatioImageError, emopy_nose_wrinkles, folder_ratio_images,
                                              load_nose_wrinkles, on_face, ratio_image)
from components.expression.mesh_warp import MeshWarpEditor
from components.expression.targets import emotion_target

NOSE_ROOT = 168  # the mesh point between the eyes, at the top of the nose's ridge
RIGHT_EYE_CENTRE = 468  # the iris's centre


def _crop(photo: np.ndarray, size: int) -> np.ndarray:
    (found,) = FaceDetector().detect([photo])
    return align(photo, found[0].landmarks, size).crop


@pytest.fixture(scope="module")
def astronaut_crop(astronaut):
    return _crop(astronaut, 256)


@pytest.fixture(scope="module")
def hopper_crop(grace_hopper_path):
    return _crop(read_image(grace_hopper_path), 256)


def _with_crease(crop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The crop under 10 % more light, its eyes changed, and a thin dark crease across the nose root."""
    mesh = detect_mesh(crop)[:, :2]
    iod = inter_ocular(mesh)
    apex = np.clip(crop.astype(np.float32) * 1.1, 0, 255).astype(np.uint8)
    x, y = mesh[NOSE_ROOT]
    cv2.line(apex, (int(x - 0.12 * iod), int(y)), (int(x + 0.12 * iod), int(y)), (40, 30, 30), 2, cv2.LINE_AA)
    cv2.circle(apex, tuple(int(v) for v in mesh[RIGHT_EYE_CENTRE]), int(0.06 * iod), (250, 250, 250), -1)
    return apex, mesh


def test_a_ratio_image_keeps_a_crease_and_nothing_of_the_light_the_eyes_or_the_background(astronaut_crop):
    apex, mesh = _with_crease(astronaut_crop)
    exemplar = ratio_image("astronaut", astronaut_crop, apex)
    iod = inter_ocular(mesh)
    mesh = exemplar.mesh  # the ratio keeps only the face's box of the frame
    x, y = np.round(mesh[NOSE_ROOT]).astype(int)
    assert exemplar.ratio[y - 1:y + 2, x - 3:x + 4].min() < 0.75  # the crease
    cheek = np.round(mesh[205]).astype(int)
    assert abs(exemplar.ratio[cheek[1], cheek[0]] - 1.0) < 0.03  # 10 % more light is not a wrinkle
    ex, ey = np.round(mesh[RIGHT_EYE_CENTRE]).astype(int)
    assert np.abs(exemplar.ratio[ey - 2:ey + 3, ex - 2:ex + 3] - 1.0).max() < 0.01  # eyes are left out (a white iris: 1.35)
    assert np.abs(exemplar.ratio[:int(0.1 * iod)] - 1.0).max() < 1e-6  # so is all beyond the face
    same = ratio_image("astronaut", astronaut_crop, astronaut_crop)
    assert np.abs(same.ratio - 1.0).max() < 0.02


@pytest.mark.parametrize("size", [128, 512])
def test_a_ratio_image_lands_on_another_face_at_the_same_point_of_its_mesh(astronaut_crop, grace_hopper_path, size):
    exemplar = ratio_image("astronaut", astronaut_crop, _with_crease(astronaut_crop)[0])
    hopper = _crop(read_image(grace_hopper_path), size)
    mesh = detect_mesh(hopper)[:, :2]
    iod = inter_ocular(mesh)
    laid = on_face(exemplar, mesh, iod, hopper.shape[:2])
    assert laid.shape == hopper.shape[:2]
    darkest = np.array(np.unravel_index(np.argmin(laid), laid.shape)[::-1])
    dx, dy = np.abs(darkest - mesh[NOSE_ROOT])
    assert dy < 0.05 * iod and dx < 0.15 * iod  # on the crease, 0.24 IOD long across the nose root
    assert laid.min() < 0.9  # the crease is still there at 128 px, only softer
    beyond = polygon_mask(hopper.shape[:2], outline_moved(mesh, 0.1 * iod), 0) == 0
    for exemplar in (exemplar, *emopy_nose_wrinkles()):  # frames of another size, faces elsewhere in them
        assert np.abs(on_face(exemplar, mesh, iod, hopper.shape[:2])[beyond] - 1.0).max() < 1e-4


def test_a_ratio_darkens_every_channel_alike_and_at_strength_zero_changes_nothing(hopper_crop):
    ratio = np.full(hopper_crop.shape[:2], 0.8, np.float32)
    assert np.array_equal(lay_ratio(hopper_crop, ratio, 0.0), hopper_crop)
    grey = np.repeat(hopper_crop.mean(2, keepdims=True).astype(np.uint8), 3, 2)
    darker = lay_ratio(grey, ratio, 1.0)
    assert (darker[..., 0] == darker[..., 1]).all() and (darker[..., 1] == darker[..., 2]).all()
    assert darker.mean() == pytest.approx(0.8 * grey.mean(), rel=0.01)
    assert lay_ratio(grey, ratio, 2.0).mean() == pytest.approx(0.64 * grey.mean(), rel=0.01)


def test_exemplar_folders_name_the_file_and_the_reason(tmp_path, astronaut_crop):
    with pytest.raises(RatioImageError, match="missing: not a folder"):
        folder_ratio_images(tmp_path / "missing")
    with pytest.raises(RatioImageError, match="no <name>_neutral"):
        folder_ratio_images(tmp_path)
    write_image(tmp_path / "anna_neutral.png", astronaut_crop)
    with pytest.raises(RatioImageError, match="anna_neutral.png: no anna_apex"):
        folder_ratio_images(tmp_path)
    write_image(tmp_path / "anna_apex.png", np.full_like(astronaut_crop, 128))
    with pytest.raises(RatioImageError, match="anna: no face mesh"):
        folder_ratio_images(tmp_path)
    write_image(tmp_path / "anna_apex.png", astronaut_crop[:200])
    with pytest.raises(RatioImageError, match="anna: the neutral frame is"):
        folder_ratio_images(tmp_path)
    (tmp_path / "anna_apex.png").write_bytes(b"\x89PNG\r\n")
    with pytest.raises(RatioImageError, match="anna_apex.png"):
        folder_ratio_images(tmp_path)
    write_image(tmp_path / "anna_apex.png", _with_crease(astronaut_crop)[0])
    (exemplar,) = folder_ratio_images(tmp_path)
    assert exemplar.name == "anna" and exemplar.ratio.min() < 0.75


def test_the_nose_wrinkler_brings_real_creases_to_the_nose_root_and_no_other_expression_changes(hopper_crop):
    wrinkles = emopy_nose_wrinkles()
    assert [w.name for w in wrinkles] == ["S074_004", "S125_008"]
    landmarks = detect_on_aligned(hopper_crop)
    plain, creased = MeshWarpEditor(), MeshWarpEditor(nose_wrinkles=wrinkles)
    face_plain, face_creased = plain.prepare(hopper_crop, landmarks), creased.prepare(hopper_crop, landmarks)
    for emotion in ("happy", "surprise", "anger"):  # no AU9
        aus = emotion_target(emotion, 1.0).aus
        assert np.array_equal(plain.edit(face_plain, hopper_crop, aus).image,
                              creased.edit(face_creased, hopper_crop, aus).image)
    aus = emotion_target("disgust", 1.0).aus
    before = plain.edit(face_plain, hopper_crop, aus).image.astype(np.float32).mean(2)
    after = creased.edit(face_creased, hopper_crop, aus).image.astype(np.float32).mean(2)
    mesh = face_creased.frame.mesh
    iod = face_creased.frame.iod
    x, y = mesh[NOSE_ROOT, :2]
    box = (slice(int(y - 0.15 * iod), int(y + 0.15 * iod)), slice(int(x - 0.25 * iod), int(x + 0.25 * iod)))

    change = after - before
    creases = change - cv2.GaussianBlur(change, (0, 0), 0.05 * iod)  # finer than 0.05 IOD: not a shade
    assert creases[box].std() > 5.0  # 11 here; 0 without the ratio images
    assert np.array_equal(after[:10], before[:10])  # the frame beyond the face is untouched


def test_au_warp_lays_the_same_creases_through_its_own_warp_instead_of_drawing_strokes(hopper_crop):
    from components.expression.au_warp import AUWarpEditor
    from components.expression.editors import AUWarp
    from components.expression.mesh_ratio import lay_on_crop
    from components.expression.params import ExpressionParams

    landmarks = detect_on_aligned(hopper_crop)
    creased, drawn = (AUWarp(ExpressionParams(editor="au_warp", nose_wrinkles=source)) for source in ("emopy", "none"))
    targets = [emotion_target(e, 1.0) for e in ("happy", "surprise", "anger", "disgust")]
    with_ratio = creased.edit_batch([hopper_crop] * 4, [landmarks] * 4, targets)
    with_strokes = drawn.edit_batch([hopper_crop] * 4, [landmarks] * 4, targets)
    for a, b in zip(with_ratio[:3], with_strokes[:3]):  # no AU9
        assert np.array_equal(a.image, b.image)
    (laid,) = lay_on_crop(hopper_crop, emopy_nose_wrinkles())
    # a ratio of 1 everywhere: neither strokes nor creases, the edit's geometry and other shading alone
    bare = AUWarpEditor().edit(hopper_crop, landmarks, targets[3].aus, nose_wrinkles=np.ones_like(laid)).image
    assert np.array_equal(AUWarpEditor().edit(hopper_crop, landmarks, targets[3].aus, nose_wrinkles=laid).image,
                          with_ratio[3].image)
    mesh = detect_mesh(hopper_crop)[:, :2]
    iod = inter_ocular(mesh)
    x, y = mesh[NOSE_ROOT]
    box = (slice(int(y - 0.15 * iod), int(y + 0.15 * iod)), slice(int(x - 0.25 * iod), int(x + 0.25 * iod)))

    def creases(image: np.ndarray) -> np.ndarray:  # what it adds to the bare edit, finer than 0.05 IOD
        change = image.astype(np.float32).mean(2) - bare.astype(np.float32).mean(2)
        return (change - cv2.GaussianBlur(change, (0, 0), 0.05 * iod))[box]

    assert creases(with_ratio[3].image).std() > 2.0 * creases(with_strokes[3].image).std()  # 11 against 2.4 here
    assert np.array_equal(with_ratio[3].image[:10], with_strokes[3].image[:10])  # beyond the face: as before


def test_a_face_without_a_mesh_gets_no_ratio_image():
    from components.expression.mesh_ratio import lay_on_crop

    assert lay_on_crop(np.full((128, 128, 3), 128, np.uint8), emopy_nose_wrinkles(), ()) == (None, None)


def test_the_stage_takes_emopys_creases_by_default_and_none_turns_them_off():
    from components.expression.editors import MeshWarp
    from components.expression.params import ExpressionParams

    assert [w.name for w in MeshWarp(ExpressionParams())._editor.nose_wrinkles] == ["S074_004", "S125_008"]
    assert MeshWarp(ExpressionParams(nose_wrinkles="none"))._editor.nose_wrinkles == ()
    assert MeshWarp(ExpressionParams(appearance=False))._editor.nose_wrinkles == ()


def test_a_clusters_pairs_are_read_from_an_s3_prefix(s3_env, tmp_path, astronaut_crop):
    from components.common import storage

    s3_env.bucket("wrinkles")
    write_image(tmp_path / "anna_neutral.png", astronaut_crop)
    write_image(tmp_path / "anna_apex.png", _with_crease(astronaut_crop)[0])
    storage.upload_dir(tmp_path, "s3://wrinkles/pairs")
    (exemplar,) = load_nose_wrinkles("s3://wrinkles/pairs")
    assert exemplar.name == "anna" and exemplar.ratio.min() < 0.75
    with pytest.raises(RatioImageError, match="s3://wrinkles/nothing-here: no objects"):
        load_nose_wrinkles("s3://wrinkles/nothing-here")


def test_a_forehead_ratio_image_keeps_lines_above_the_brows_and_nothing_below(astronaut_crop):
    from components.expression.mesh_ratio import UPPER_BROWS

    apex, mesh = _with_crease(astronaut_crop)  # a crease at the nose root: below the brows' upper edge
    iod = inter_ocular(mesh)
    line_y = int(mesh[list(UPPER_BROWS), 1].min() - 0.15 * iod)
    x = int(mesh[NOSE_ROOT, 0])
    cv2.line(apex, (int(x - 0.2 * iod), line_y), (int(x + 0.2 * iod), line_y), (40, 30, 30), 2, cv2.LINE_AA)
    exemplar = ratio_image("astronaut", astronaut_crop, apex, "forehead")
    assert exemplar.region == "forehead"
    ex_mesh = exemplar.mesh
    fx, fy = int(round(ex_mesh[NOSE_ROOT, 0])), int(round(line_y - mesh[NOSE_ROOT, 1] + ex_mesh[NOSE_ROOT, 1]))
    assert exemplar.ratio[fy - 2:fy + 3, fx - 3:fx + 4].min() < 0.8  # the forehead line
    nx, ny = np.round(ex_mesh[NOSE_ROOT]).astype(int)
    assert np.abs(exemplar.ratio[ny - 2:ny + 3, nx - 3:nx + 4] - 1.0).max() < 0.01  # not the nose root's crease


def test_pyfames_ravdess_clip_gives_forehead_lines():
    from components.expression.mesh_ratio import load_forehead_wrinkles

    (exemplar,) = load_forehead_wrinkles("ravdess")
    assert exemplar.name == "ravdess_02" and exemplar.region == "forehead"
    assert exemplar.ratio.min() < 0.9 and exemplar.ratio.max() <= 1.35
    assert load_forehead_wrinkles("none") == ()


def test_forehead_lines_follow_au1_in_the_middle_and_au2_at_the_sides(hopper_crop):
    from components.expression.mesh_appearance import forehead_strength
    from components.expression.mesh_ratio import ravdess_forehead_wrinkles

    strength = forehead_strength(100.0, 100.0, 201, {1: 1.0})[0]
    assert strength[100] == 1.0 and strength[0] == 0.0 and strength[200] == 0.0
    both = forehead_strength(100.0, 100.0, 201, {1: 0.5, 2: 1.0})[0]
    assert both[100] == 0.5 and both[0] == 1.0
    landmarks = detect_on_aligned(hopper_crop)
    plain, lined = MeshWarpEditor(), MeshWarpEditor(forehead_wrinkles=ravdess_forehead_wrinkles())
    face_plain, face_lined = plain.prepare(hopper_crop, landmarks), lined.prepare(hopper_crop, landmarks)
    for emotion in ("happy", "disgust", "anger"):  # no AU1, no AU2
        aus = emotion_target(emotion, 1.0).aus
        assert np.array_equal(plain.edit(face_plain, hopper_crop, aus).image,
                              lined.edit(face_lined, hopper_crop, aus).image)
    mesh, iod = face_lined.frame.mesh[:, :2], face_lined.frame.iod
    changed = {}
    for name, aus in (("AU1", {1: 1.0}), ("AU2", {2: 1.0})):
        before = plain.edit(face_plain, hopper_crop, aus).image.astype(np.float32).mean(2)
        changed[name] = np.abs(lined.edit(face_lined, hopper_crop, aus).image.astype(np.float32).mean(2) - before)
    forehead = slice(0, int(mesh[list((70, 300)), 1].min()))
    across = np.abs(np.arange(hopper_crop.shape[1]) - mesh[168, 0]) / iod
    middle, sides = across < 0.2, across > 0.55
    assert changed["AU1"][forehead][:, middle].mean() > 0.2 and changed["AU1"][forehead][:, sides].max() == 0
    assert changed["AU2"][forehead][:, sides].mean() > 0.05 and changed["AU2"][forehead][:, middle].max() == 0


def test_an_unreadable_or_short_clip_is_named(tmp_path):
    from components.expression.mesh_ratio import _video_frame

    broken = tmp_path / "clip.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42")
    with pytest.raises(RatioImageError, match="clip.mp4: no frame 3"):
        _video_frame(broken, 3)
