import cv2
import numpy as np
import pytest
from skimage import color

from components.adapt.blend import face_region, feathered_alpha, lab_transfer, paste_back, poisson_paste
from components.common.faces import FaceDetector, align, paste_matrix
from components.common.landmarks import detect_on_aligned


def reference_transfer(edited, original, mask):
    """Reinhard transfer written out plainly with scikit-image's CIELAB conversion."""
    src, ref = color.rgb2lab(edited / 255.0), color.rgb2lab(original / 255.0)
    region = mask > 0.5
    out = src.copy()
    for c in range(3):
        s, r = src[..., c][region], ref[..., c][region]
        out[..., c] = (src[..., c] - s.mean()) / s.std() * r.std() + r.mean()
    return np.clip(color.lab2rgb(out) * 255.0, 0, 255)


def test_lab_transfer_matches_the_reference(astronaut):
    original = astronaut[100:228, 150:278]
    edited = np.clip(original.astype(int) * [0.8, 1.1, 0.9] + [20, -10, 5], 0, 255).astype(np.uint8)
    mask = np.zeros((128, 128), np.float32)
    cv2.ellipse(mask, (64, 64), (40, 55), 0, 0, 360, 1.0, -1)
    ours = lab_transfer(edited, original, mask).astype(float)
    ref = reference_transfer(edited.astype(float), original.astype(float), mask)
    region = mask > 0.5
    assert np.abs(ours - ref)[region].mean() < 1.0  # under one grey level
    assert np.abs(ours.mean(axis=(0, 1)) - ref.mean(axis=(0, 1))).max() < 1.0
    # And the transfer undoes the colour cast inside the face.
    edit_change = np.abs(edited[region] - original[region].astype(float)).mean()
    assert np.abs(ours[region] - original[region]).mean() < edit_change * 0.6


def test_alpha_is_one_inside_and_ramps_monotonically():
    region = np.zeros((128, 128), np.float32)
    cv2.circle(region, (64, 64), 40, 1.0, -1)
    alpha = feathered_alpha(region, border=10)
    assert alpha[64, 64] == 1.0 and (alpha[region == 0] == 0).all()
    assert (alpha[64, 64 - 25:64 + 26] == 1.0).all()  # 1 everywhere deeper than the border
    profile = alpha[64, 64:110]  # from the centre outwards
    assert (np.diff(profile) <= 1e-6).all() and profile[-1] == 0.0
    ramp = profile[(profile > 0) & (profile < 1)]
    assert 6 <= len(ramp) <= 11  # linear over about 10 px


@pytest.fixture(scope="module")
def aligned(astronaut):
    (faces,) = FaceDetector().detect([astronaut])
    a = align(astronaut, faces[0].landmarks, 256)
    return astronaut, a.crop, a.matrix


def _psnr(a, b):
    mse = np.mean((a.astype(float) - b.astype(float)) ** 2)
    return 10 * np.log10(255.0 ** 2 / max(mse, 1e-12))


def test_unedited_paste_back_reproduces_the_frame(aligned):
    frame, crop, matrix = aligned
    region = face_region(detect_on_aligned(crop), crop.shape[0])
    for adapted in (crop, lab_transfer(crop, crop, region)):
        out = paste_back(frame, adapted, feathered_alpha(region, 20), paste_matrix(matrix))
        assert _psnr(out, frame) > 40
    poisson = poisson_paste(frame, crop, region, paste_matrix(matrix))
    assert _psnr(poisson, frame) > 30


def test_edit_lands_in_the_face_only(aligned):
    frame, crop, matrix = aligned
    region = face_region(detect_on_aligned(crop), crop.shape[0])
    out = paste_back(frame, np.zeros_like(crop), feathered_alpha(region, 10), paste_matrix(matrix))
    changed = np.abs(out.astype(int) - frame).sum(axis=2) > 0
    ys, xs = np.nonzero(changed)
    assert 100 < xs.min() and xs.max() < 320 and ys.max() < 260  # the face box, not the whole frame
