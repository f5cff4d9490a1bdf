"""benchmarks/face_regions.py: band swaps between a face and its neutral, and pairing real expressions with edits."""
import csv
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import face_regions  # noqa: E402


def test_a_band_comes_from_the_donor_and_the_rest_stays():
    base, donor = np.zeros((100, 100), np.float32), np.full((100, 100), 200.0, np.float32)
    mouth = face_regions.with_band(base, donor, "mouth")
    assert mouth[84, 50] > 190  # inside the mouth band (rows 72-96)
    assert mouth[40, 50] < 1 and mouth[84, 2] < 1  # the eyes' rows and the edge of the crop stay
    variants = face_regions.band_swaps(donor, base, face_regions.WITHOUT_AND_ONLY)
    assert variants["only upper"][43, 50] > 190 and variants["only upper"][84, 50] < 1
    assert variants["-upper"][43, 50] < 10 and variants["-upper"][84, 50] > 190


def _dataset(root: Path, rows: list[tuple[str, str, str, np.ndarray]]) -> Path:
    (root / "images").mkdir(parents=True)
    with open(root / "manifest.csv", "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["id", "path", "identity", "parent_id", "target_emotion"])
        for i, (identity, parent, emotion, image) in enumerate(rows):
            cv2.imwrite(str(root / "images" / f"{i}.png"), image)
            out.writerow([f"{identity}-{emotion}", f"images/{i}.png", identity, parent, emotion])
    return root


def test_real_expressions_pair_with_edits_of_the_same_aligned_neutral(tmp_path, capsys):
    rng = np.random.default_rng(0)
    neutral_a, neutral_b = (rng.integers(0, 255, (64, 64), dtype=np.uint8) for _ in range(2))
    ours = _dataset(tmp_path / "ours", [
        ("photo-ckplus_S001.png", "a", "neutral", neutral_a), ("photo-ckplus_S001.png", "a", "disgust", neutral_a // 2),
        ("photo-ckplus_S002.png", "b", "neutral", neutral_b), ("photo-ckplus_S002.png", "b", "disgust", neutral_b // 2)])
    real = _dataset(tmp_path / "real", [
        ("S001", "ra", "neutral", neutral_a), ("S001", "ra", "disgust", neutral_a // 3),
        ("S002", "rb", "neutral", 255 - neutral_b), ("S002", "rb", "disgust", neutral_b // 3),  # aligned differently
        ("S003", "rc", "neutral", neutral_a), ("S003", "rc", "disgust", neutral_a // 3)])  # never edited
    pairs = face_regions.paired_with_real(ours, real, "disgust")
    assert len(pairs) == 1
    real_face, our_face = pairs[0]
    assert np.array_equal(real_face, (neutral_a // 3).astype(np.float32))
    assert np.array_equal(our_face, (neutral_a // 2).astype(np.float32))
    assert "S002" in capsys.readouterr().out
