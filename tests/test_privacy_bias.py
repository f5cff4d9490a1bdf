"""The privacy (memorisation) check and the bias report, on real faces."""
import csv
import json

import cv2
import numpy as np
import pytest

from components.bias.params import BiasParams
from components.bias.run import run as bias
from components.bias.skin_tone import GREY, category, ita, skin_patches
from components.cli import main as cli
from components.common.faces import FaceDetector, align
from components.common.imageio import read_image, write_image
from components.common.manifest import read_manifest, write_manifest
from components.privacy.params import PrivacyParams
from components.privacy.run import run as privacy


@pytest.fixture(scope="module")
def crops(astronaut, grace_hopper_path):
    detector = FaceDetector()
    out = {}
    for name, image in (("hopper", read_image(grace_hopper_path)), ("astronaut", astronaut)):
        face = detector.detect([image])[0][0]
        out[name] = align(image, face.landmarks, 100).crop
    return out


def synthetic_dataset(root, identities: dict[str, list[np.ndarray]]):
    rows = []
    for identity, images in identities.items():
        for k, image in enumerate(images):
            name = f"{identity}_{k}"
            write_image(root / "images" / f"{name}.png", image)
            rows.append({"id": name, "path": f"images/{name}.png", "identity": identity, "seed": len(rows),
                         "target_emotion": "neutral" if k == 0 else "happy",
                         "label_emotion": "neutral" if k == 0 else "happy"})
    write_manifest(root, rows)
    return root


def test_identity_close_to_a_real_face_is_flagged_and_dropped(crops, grace_hopper_path, tmp_path):
    """A 'synthetic' identity that is a real person (grace hopper, brightened) is found in the references."""
    brighter = cv2.convertScaleAbs(crops["hopper"], alpha=1.1, beta=10)
    data = synthetic_dataset(tmp_path / "syn", {"copy": [crops["hopper"], brighter],
                                                "other": [crops["astronaut"], cv2.flip(crops["astronaut"], 1)]})
    references = tmp_path / "real"
    references.mkdir()
    (references / "hopper.jpg").write_bytes(grace_hopper_path.read_bytes())
    (references / "broken.jpg").write_bytes(b"\xff\xd8\xff truncated")
    summary = privacy(PrivacyParams(reference=[str(references)], drop=False), data, tmp_path / "kept")
    info = json.loads((tmp_path / "kept" / "privacy.json").read_text())
    assert summary["references"] == 1 and any("broken.jpg" in p for p in info["problems"])
    assert info["flagged_identities"] == ["copy"]
    assert info["per_identity"]["copy"]["distance"] < 0.4 < 0.6 < info["per_identity"]["other"]["distance"]
    rows = read_manifest(tmp_path / "kept")
    assert len(rows) == 4 and {r["privacy_flagged"] for r in rows if r["identity"] == "copy"} == {1}
    assert "data:image/png;base64," in (tmp_path / "kept" / "privacy.html").read_text()
    dropped = privacy(PrivacyParams(reference=[str(references)], drop=True), data, tmp_path / "dropped")
    assert dropped["dropped_identities"] == 1
    assert {r["identity"] for r in read_manifest(tmp_path / "dropped")} == {"other"}


def test_synthetic_twins_are_counted(crops, tmp_path):
    data = synthetic_dataset(tmp_path / "syn", {"a": [crops["hopper"]], "b": [cv2.flip(crops["hopper"], 1)],
                                                "c": [crops["astronaut"]]})
    summary = privacy(PrivacyParams(reference=[]), data, tmp_path / "out")
    assert summary["synthetic_twins"] == 2 and summary["references"] == 0 and summary["flagged"] == 0
    assert "compared nothing" in (tmp_path / "out" / "privacy.html").read_text()


def test_descriptor_pool_gives_what_one_process_gives(crops):
    from components.common.face_descriptors import DescriptorPool

    variants = [cv2.convertScaleAbs(crops[name], alpha=1 + 0.01 * k, beta=k) for name in crops for k in range(20)]
    jobs = [(image, True) for image in variants]
    with DescriptorPool(workers=1) as pool:
        alone = list(pool.describe(jobs))
    with DescriptorPool(workers=2) as pool:
        pooled = list(pool.describe(jobs))
        assert pool._pool is not None  # 40 jobs: the workers did them
        assert list(pool.describe(jobs[:2]))[1] is not None  # and serve later calls
    assert len(pooled) == 40 and all(np.array_equal(a, b) for a, b in zip(alone, pooled))


def test_a_known_face_box_is_used_instead_of_detecting_again(crops):
    """Select's face box (manifest `face_box`) on the very image gives privacy the same person."""
    from components.common.face_descriptors import DescriptorExtractor

    extractor = DescriptorExtractor()
    face = crops["hopper"]
    box = extractor.detector.detect([face])[0][0].box  # what select's face check stores
    detected = extractor.describe(face, aligned=True)
    given = extractor.describe(face, aligned=True, box=box)
    assert float(np.linalg.norm(detected - given)) < 0.1  # dlib's same-person threshold is 0.6
    elsewhere = extractor.describe(face, aligned=True, box=[0, 0, 30, 30])  # the box is really used
    assert float(np.linalg.norm(detected - elsewhere)) > 0.1


def test_missing_reference_folder_is_a_clear_error(crops, tmp_path):
    data = synthetic_dataset(tmp_path / "syn", {"a": [crops["hopper"]]})
    with pytest.raises(ValueError, match="nowhere.*not a folder"):
        privacy(PrivacyParams(reference=[str(tmp_path / "nowhere")]), data, tmp_path / "out")


def test_ita_follows_its_definition_and_categories():
    colour = np.full((100, 100, 3), (224, 172, 140), np.uint8)
    lab = cv2.cvtColor(colour[:1, :1].astype(np.float32) / 255, cv2.COLOR_RGB2LAB)[0, 0]
    assert ita(colour) == pytest.approx(np.degrees(np.arctan((lab[0] - 50) / lab[2])), abs=1e-3)
    darker = (colour * 0.45).astype(np.uint8)
    assert ita(darker) < ita(colour)
    assert ita(np.full((100, 100, 3), 128, np.uint8)) is None and category(None) == GREY
    assert [category(v) for v in (60, 50, 30, 20, 0, -40)] == ["very light", "light", "intermediate", "tan",
                                                               "brown", "dark"]
    for x0, y0, x1, y1 in skin_patches(100):
        assert 0 <= x0 < x1 <= 100 and 0 <= y0 < y1 <= 100


def test_bias_report_with_model_and_attributes(toy_dataset, trained, tmp_path, capsys):
    rows = read_manifest(toy_dataset)
    attributes = tmp_path / "attributes.csv"
    with attributes.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["identity", "age_group"])
        for seed in sorted({r["seed"] for r in rows}):
            writer.writerow([seed, "young" if seed % 2 else "old"])
    code = cli(["bias", str(toy_dataset), "--model-dir", str(trained[0]), "--attributes", str(attributes),
                "--out", str(tmp_path / "report")])
    assert code == 0
    summary = json.loads((tmp_path / "report" / "bias.json").read_text())
    assert summary["images"] == len(rows) and summary["classes"] == {"neutral": 24, "happy": 24, "sad": 24}
    assert summary["class_entropy"] == pytest.approx(1.0)
    assert summary["scoring"]["held_out_identities_only"] and summary["images_without_attributes"] == 0
    groups = {g["group"]: g for g in summary["groups"]["age_group"]}
    assert set(groups) == {"young", "old"}
    scored = sum(g["scored"] for g in groups.values())
    weighted = sum(g["accuracy"] * g["scored"] for g in groups.values() if g["scored"]) / scored
    assert scored == summary["scoring"]["scored"] and weighted == pytest.approx(summary["overall_accuracy"])
    page = (tmp_path / "report" / "bias.html").read_text()
    assert "skin tone (ITA)" in page and page.count("data:image/png;base64,") == 2
    assert len((tmp_path / "report" / "skin_tone.csv").read_text().splitlines()) == len(rows) + 1


def test_bias_on_a_folder_of_photos_detects_faces(astronaut, grace_hopper_path, tmp_path):
    root = tmp_path / "photos"
    write_image(root / "happy" / "astronaut.png", astronaut)
    (root / "neutral").mkdir()
    (root / "neutral" / "hopper.jpg").write_bytes(grace_hopper_path.read_bytes())
    write_image(root / "neutral" / "wall.png", np.full((80, 80, 3), 90, np.uint8))
    counts = bias(BiasParams(), str(root), tmp_path / "out")
    summary = json.loads((tmp_path / "out" / "bias.json").read_text())
    tones = {g["group"]: g["images"] for g in summary["groups"]["skin tone (ITA)"]}
    assert counts["images"] == 3 and tones.get("unknown (no face)") == 1 and summary["ita"]["measured"] == 2


def test_attributes_without_a_key_column_are_refused(toy_dataset, tmp_path):
    bad = tmp_path / "attributes.csv"
    bad.write_text("person,gender\n1,f\n")
    with pytest.raises(ValueError, match="attributes.csv: attributes CSV needs an 'identity' or 'image' column"):
        bias(BiasParams(attributes=str(bad)), str(toy_dataset), tmp_path / "out")
