import numpy as np
import pytest
from PIL import Image

from components.common.fer_metrics import confusion, roc_auc, summary
from components.common.datasets import (DatasetError, group_kfold, group_split, load_dataset, read_affectnet,
                                       read_fer2013, read_folder, read_rafdb)


def _face(path, value=128):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((48, 48, 3), value, np.uint8)).save(path)


def test_folder_reader(tmp_path):
    _face(tmp_path / "happy" / "s1_a.png")
    _face(tmp_path / "Angry" / "s2_b.png")
    _face(tmp_path / "bored" / "c.png")
    loaded = read_folder(tmp_path)
    assert sorted(s.label for s in loaded.samples) == ["anger", "happy"]
    assert "bored" in loaded.problems[0]


def test_rafdb_reader_maps_labels_and_reports_bad_rows(tmp_path):
    (tmp_path / "EmoLabel").mkdir()
    _face(tmp_path / "Image" / "aligned" / "train_00001_aligned.jpg")
    _face(tmp_path / "Image" / "aligned" / "test_0001_aligned.jpg")
    (tmp_path / "EmoLabel" / "list_patition_label.txt").write_text(
        "train_00001.jpg 4\ntest_0001.jpg 6\nbroken line here\ntrain_00002.jpg 9\ntrain_00003.jpg 1\n")
    loaded = read_rafdb(tmp_path)
    assert [s.label for s in loaded.samples] == ["happy", "anger"]
    problems = "\n".join(loaded.problems)
    assert ":3: expected" in problems and ":4: unknown label 9" in problems and ":5: image" in problems


def test_fer2013_reader(tmp_path):
    pixels = " ".join(["100"] * 48 * 48)
    (tmp_path / "fer2013.csv").write_text(
        f"emotion,pixels,Usage\n0,{pixels},Training\n3,{pixels},PublicTest\n9,{pixels},Training\n"
        f"2,1 2 3,Training\n4,a b c,Training\n")
    loaded = read_fer2013(tmp_path / "fer2013.csv")
    assert [s.label for s in loaded.samples] == ["anger", "happy"]
    assert loaded.samples[0].image().shape == (48, 48, 3)
    assert len(loaded.problems) == 3 and ":4: unknown emotion" in loaded.problems[0]
    (tmp_path / "bad.csv").write_text("label,data\n1,2\n")
    with pytest.raises(DatasetError, match="'emotion' and 'pixels'"):
        read_fer2013(tmp_path / "bad.csv")


def test_affectnet_reader(tmp_path):
    _face(tmp_path / "img" / "1.jpg")
    _face(tmp_path / "img" / "2.jpg")
    (tmp_path / "labels.csv").write_text("path,expression\nimg/1.jpg,6\nimg/2.jpg,happy\nimg/3.jpg,1\nimg/1.jpg,9\n")
    loaded = read_affectnet(tmp_path / "labels.csv")
    assert [s.label for s in loaded.samples] == ["anger", "happy"]
    assert any("img/3.jpg" in p for p in loaded.problems) and any("'9'" in p for p in loaded.problems)


def test_dataset_specs_fail_clearly(tmp_path):
    with pytest.raises(DatasetError, match="FORMAT:PATH"):
        load_dataset(str(tmp_path))
    with pytest.raises(DatasetError, match="not a fersynth dataset"):
        load_dataset(f"fersynth:{tmp_path}")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no usable samples"):
        load_dataset(f"folder:{tmp_path / 'empty'}")


def test_group_splits_never_share_a_group(tmp_path):
    from components.common.datasets import Sample

    samples = [Sample("happy", f"g{i % 20}", "x") for i in range(200)]
    train, val, test = group_split(samples, (0.7, 0.15, 0.15), seed=1)
    groups = [{s.group for s in part} for part in (train, val, test)]
    assert not (groups[0] & groups[1]) and not (groups[0] & groups[2]) and not (groups[1] & groups[2])
    assert len(train) + len(val) + len(test) == 200 and all(groups)
    folds = group_kfold(samples, 4, seed=0)
    assert len(folds) == 4 and all(not ({s.group for s in a} & {s.group for s in b}) for a, b in folds)


def test_metrics():
    y, p = np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 1, 0])
    assert confusion(y, p, 3).tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    s = summary(y, p, ["a", "b", "c"])
    assert s["accuracy"] == pytest.approx(0.6)
    assert s["per_class"]["b"]["precision"] == pytest.approx(2 / 3) and s["per_class"]["b"]["recall"] == 1.0
    rng = np.random.RandomState(0)
    labels, scores = rng.rand(50) > 0.5, rng.rand(50)
    brute = np.mean([float(a > b) + 0.5 * (a == b) for a in scores[labels] for b in scores[~labels]])
    assert roc_auc(labels, scores) == pytest.approx(brute)
    assert roc_auc(np.ones(5), scores[:5]) is None


def _emopy_tree(root):
    from components.common.imageio import write_image

    face = np.full((48, 64, 3), 128, np.uint8)
    files = ["sample_image_directory/happiness/S052_004_00000022.png",
             "sample_image_directory/anger/S074_004_00000010.png",  # filed under disgust in the series folder
             "sample_image_directory/surprise/S055_001_00000007.png",
             "sample_image_series_directory/disgust/S074_004/S074_004_00000001.png",
             "sample_image_series_directory/disgust/S074_004/S074_004_00000002.png",
             "sample_image_series_directory/fear/S074_001/S074_001_00000001.png",
             "sample_image_series_directory/anger/S055_004/S055_004_00000001.png",
             "sample_happy_image.png"]
    for name in files:
        write_image(root / name, face)
    return root


def test_emopy_reader_labels_apex_frames_and_neutral_onsets(tmp_path):
    from components.common.datasets import load_dataset

    loaded = load_dataset(f"emopy:{_emopy_tree(tmp_path)}")
    got = sorted((s.label, s.group, s.path.name) for s in loaded.samples)
    assert got == [("happy", "ck+:S052", "S052_004_00000022.png"),
                   ("happy", "emopy:sample_happy_image", "sample_happy_image.png"),
                   ("neutral", "ck+:S055", "S055_004_00000001.png"),  # frame 1 of a sequence, one per subject
                   ("neutral", "ck+:S074", "S074_004_00000001.png"),
                   ("surprise", "ck+:S055", "S055_001_00000007.png")]
    assert len(loaded.problems) == 1 and "S074_004 is filed under anger here and under disgust" in loaded.problems[0]


def test_emopy_reader_without_the_package_or_folder(tmp_path):
    from components.common.datasets import DatasetError, load_dataset

    with pytest.raises(DatasetError, match="not EmoPy's examples/image_data"):
        load_dataset(f"emopy:{tmp_path}")
