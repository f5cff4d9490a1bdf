import cv2
import numpy as np

from components.common.faces import (FaceDetector, align, paste_matrix, similarity_transform,
                                     template_points)


def test_similarity_transform_recovers_a_known_transform():
    rng = np.random.RandomState(0)
    src = rng.rand(5, 2) * 100
    angle, scale, shift = 0.3, 1.7, np.array([12.0, -5.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = src @ rot.T + shift
    matrix = similarity_transform(src, dst)
    assert np.allclose(matrix[:, :2], rot, atol=1e-9) and np.allclose(matrix[:, 2], shift, atol=1e-9)
    # Same answer as OpenCV's independent least-squares estimate on exact correspondences.
    cv_matrix, _ = cv2.estimateAffinePartial2D(src, dst, method=cv2.LMEDS)
    assert np.allclose(matrix, cv_matrix, atol=1e-6)


def test_detect_align_and_paste_back(astronaut):
    (faces,) = FaceDetector().detect([astronaut])
    assert len(faces) == 1 and faces[0].score > 0.99
    aligned = align(astronaut, faces[0].landmarks, size=112)
    assert aligned.crop.shape == (112, 112, 3)
    # The landmarks land on the template, and the paste-back matrix maps them home again.
    def apply(m, pts):
        return pts @ m[:, :2].T + m[:, 2]

    moved = apply(aligned.matrix, faces[0].landmarks)
    assert np.abs(moved - template_points(112, 0.0)).max() < 6
    assert np.allclose(apply(paste_matrix(aligned.matrix), moved), faces[0].landmarks, atol=1e-6)
    # The aligned crop still shows a face.
    (again,) = FaceDetector().detect([cv2.resize(aligned.crop, (224, 224))])
    assert again and again[0].score > 0.95


def test_no_face_in_noise():
    noise = np.random.RandomState(1).randint(0, 255, (256, 256, 3), dtype=np.uint8)
    assert FaceDetector().detect([noise]) == [[]]
