"""Each quality metric against an independent computation."""
import cv2
import numpy as np
import pytest
from skimage import data
from skimage.metrics import mean_squared_error, peak_signal_noise_ratio, structural_similarity

from components.select import brisque
from components.select.fid import InceptionFeatures, fid, kid, set_distance
from components.select.fr_metrics import all_metrics, psnr, sam, ssim, uqi
from components.select.niqe import fit_pristine, niqe


@pytest.fixture(scope="module")
def images():
    base = [data.astronaut(), data.chelsea(), data.coffee(), cv2.resize(data.astronaut(), (128, 128))]
    blurred = [cv2.GaussianBlur(base[0], (0, 0), 3), cv2.GaussianBlur(base[3], (0, 0), 1.5)]
    noisy = [np.clip(base[1] + np.random.RandomState(0).randn(*base[1].shape) * 20, 0, 255).astype(np.uint8)]
    return base + blurred + noisy


def test_psnr_ssim_rmse_match_scikit_image(images):
    a = images[3]
    for b in (images[5], np.clip(a.astype(int) + 7, 0, 255).astype(np.uint8)):
        m = all_metrics(b, a)
        assert m["psnr"] == pytest.approx(peak_signal_noise_ratio(a, b, data_range=255), abs=1e-9)
        assert m["ssim"] == pytest.approx(structural_similarity(a, b, channel_axis=2, data_range=255), abs=1e-9)
        assert m["rmse"] == pytest.approx(np.sqrt(mean_squared_error(a, b)), abs=1e-9)


def test_uqi_and_sam_basics(images):
    a = images[3]
    assert uqi(a, a) == pytest.approx(1.0) and sam(a, a) == pytest.approx(0.0, abs=1e-3)
    assert psnr(a, a) == float("inf") and ssim(a, a) == pytest.approx(1.0)
    tinted = np.clip(a * np.array([1.0, 0.8, 0.8]), 0, 255).astype(np.uint8)  # a hue change, same structure
    assert sam(tinted, a) > 3 and sam(np.clip(a * 0.7, 0, 255).astype(np.uint8), a) < 1  # SAM ignores brightness
    assert uqi(images[5], a) < uqi(a, a)


def test_brisque_agrees_with_the_reference_package(images):
    from brisque import BRISQUE

    reference = BRISQUE(url=False)
    ours = brisque.scores(images)
    theirs = np.array([reference.score(i) for i in images])
    assert np.abs(ours - theirs).max() < 1.0
    assert ours[4] > ours[0] + 30  # blur is worse


def test_brisque_model_file_cannot_run_code(tmp_path):
    import pickle
    import shutil

    shutil.copy(brisque.model_dir() / "svm.txt", tmp_path / "svm.txt")

    class Evil:
        def __reduce__(self):
            import os
            return (os.system, (f"touch {tmp_path / 'PWNED'}",))

    (tmp_path / "normalize.pickle").write_bytes(pickle.dumps({"min_": Evil()}))
    with pytest.raises(pickle.UnpicklingError, match="refused global"):
        brisque.load_model(str(tmp_path))
    assert not (tmp_path / "PWNED").exists()


def test_niqe_grows_with_blur_and_noise(images):
    refs = [images[0], images[1], images[2]]
    model = fit_pristine(refs, patch=32)
    clean = niqe(images[0], model)
    assert niqe(images[4], model) > clean + 2
    noisy = np.clip(images[0] + np.random.RandomState(1).randn(*images[0].shape) * 25, 0, 255).astype(np.uint8)
    assert niqe(noisy, model) > clean + 2


@pytest.fixture(scope="module")
def inception():
    return InceptionFeatures()


def test_fid_of_a_set_with_itself_is_zero_and_grows_with_noise(inception):
    rng = np.random.RandomState(0)
    base = cv2.resize(data.astronaut(), (128, 128))
    crops = [np.roll(base, (rng.randint(-20, 20), rng.randint(-20, 20)), axis=(0, 1)) for _ in range(12)]
    feats = inception(crops)
    assert feats.shape == (12, 2048)
    assert fid(feats, feats) == pytest.approx(0.0, abs=1e-6)
    distances = []
    for sigma in (8, 30):
        noisy = [np.clip(c + rng.randn(*c.shape) * sigma, 0, 255).astype(np.uint8) for c in crops]
        distances.append(fid(feats, inception(noisy)))
    assert 0 < distances[0] < distances[1]
    result = set_distance(feats, feats)
    assert "fewer than 2048" in result["warning"] and result["n_eval"] == 12


def test_onnx_runtime_features_agree_with_torchscript(inception, tmp_path, monkeypatch):
    assert inception.runtime == "onnxruntime"  # the CPU default
    crops = [cv2.resize(data.astronaut(), (s, s)) for s in (64, 100, 128)] + [data.camera()]
    torchscript = InceptionFeatures(runtime="torchscript")
    assert np.abs(inception(crops) - torchscript(crops)).max() < 1e-4
    # a damaged cached copy is exported again, not trusted
    monkeypatch.setenv("FERSYNTH_CACHE", str(tmp_path))
    InceptionFeatures()
    (cached,) = (tmp_path / "models").glob("fid-inception-*.onnx")
    cached.write_bytes(b"truncated")
    again = InceptionFeatures()
    assert again.runtime == "onnxruntime" and cached.stat().st_size > 1_000_000
    assert np.abs(again(crops) - torchscript(crops)).max() < 1e-4


def test_kid_is_unbiased_near_zero_for_one_distribution():
    rng = np.random.RandomState(0)
    a, b = rng.randn(200, 64), rng.randn(200, 64)
    assert abs(kid(a, b, subset_size=100)) < 0.01
    assert kid(a, b + 1.0, subset_size=100) > 0.05


def test_inception_file_is_checked(tmp_path):
    fake = tmp_path / "net.pt"
    fake.write_bytes(b"not the network")
    with pytest.raises(ValueError, match="sha1"):
        InceptionFeatures(fake)
