import json
import shutil

import cv2
import numpy as np
import pytest
from PIL import Image

from components.common.journal import JournalError
from components.common.manifest import read_manifest, read_stage_info
from components.identity import run as identity_run
from components.identity.params import IdentityParams
from components.identity.run import run

SMALL = dict(count=6, seed_start=10, batch_size=4, preview_seeds=2, preview_degrees=[-2.0, 0.0, 2.0],
             pca_samples=256, pca_components=4)


@pytest.fixture(scope="module")
def dcgan_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("dcgan")
    counts = run(IdentityParams(**SMALL), out)
    return out, counts


def test_dcgan_identities_and_manifest(dcgan_run):
    out, counts = dcgan_run
    rows = read_manifest(out)
    assert counts["planned"] == 6 and counts["identities"] == len(rows) >= 5
    assert counts["identities"] + sum(counts["rejected"].values()) == 6
    for row in rows:
        assert row["id"] == f"{row['seed']}_{row['order']:06d}"
        crop = cv2.imread(str(out / row["path"]))
        frame = cv2.imread(str(out / row["frame_path"]))
        assert crop.shape == (128, 128, 3) and frame.shape == (256, 256, 3)
        assert row["latent_index"] == -1 and row["backend"] == "dcgan64"
        assert row["source"].startswith("dcgan64:sha256:")
        assert np.array(row["align_matrix"]).shape == (2, 3) and row["face_score"] >= 0.9
    preview = cv2.imread(str(out / "preview.png"))
    assert preview.shape[0] > 2 * 90 and preview.shape[1] > 3 * 90  # 2 seeds x 3 degrees
    info = read_stage_info(out)
    assert info["params"]["count"] == 6 and info["counts"] == json.loads(json.dumps(counts))


def test_same_seeds_same_bytes(dcgan_run, tmp_path):
    out, _ = dcgan_run
    run(IdentityParams(**SMALL), tmp_path)
    for row in read_manifest(out):
        assert (tmp_path / row["path"]).read_bytes() == (out / row["path"]).read_bytes()
    assert (tmp_path / "manifest.csv").read_bytes() == (out / "manifest.csv").read_bytes()


def test_latent_degrees_move_along_a_direction(tmp_path):
    run(IdentityParams(**{**SMALL, "count": 2}, latent_index=1, latent_degrees=[0.0, 3.0]), tmp_path)
    rows = read_manifest(tmp_path)
    by_seed = {}
    for row in rows:
        by_seed.setdefault(row["seed"], []).append(row)
        assert row["latent_index"] == 1
    moved = [r for rs in by_seed.values() if len(rs) == 2 for r in rs]
    assert moved, "expected both degrees of at least one seed to keep a face"
    a, b = (cv2.imread(str(tmp_path / r["frame_path"])).astype(int) for r in moved[:2])
    assert np.abs(a - b).mean() > 2  # a 3-sigma move changes the face
    assert [r["latent_degree"] for r in moved[:2]] == [0.0, 3.0]


def test_crash_then_resume_keeps_finished_work(tmp_path, monkeypatch):
    params = IdentityParams(**{**SMALL, "preview_seeds": 0})
    real_write = identity_run.write_image
    calls = {"n": 0}

    def crashing_write(path, rgb):
        calls["n"] += 1
        if calls["n"] == 5:  # mid-batch, after two full images (frame + crop each)
            raise KeyboardInterrupt("simulated crash")
        real_write(path, rgb)

    monkeypatch.setattr(identity_run, "write_image", crashing_write)
    with pytest.raises(KeyboardInterrupt):
        run(params, tmp_path)
    monkeypatch.setattr(identity_run, "write_image", real_write)
    finished = sorted(p.name for p in (tmp_path / "images").glob("*.png"))
    assert len(finished) == 2
    mtimes = {name: (tmp_path / "images" / name).stat().st_mtime_ns for name in finished}
    counts = run(params, tmp_path)
    assert counts["identities"] + sum(counts["rejected"].values()) == 6
    for name, mtime in mtimes.items():
        assert (tmp_path / "images" / name).stat().st_mtime_ns == mtime  # not redone
    assert not list(tmp_path.rglob("*.tmp"))
    with pytest.raises(JournalError, match="different parameters"):
        run(IdentityParams(**{**SMALL, "count": 7}), tmp_path)


def test_folder_backend_skips_bad_files(tmp_path, astronaut, grace_hopper_path):
    src = tmp_path / "photos"
    src.mkdir()
    Image.fromarray(astronaut).save(src / "a_astronaut.png")
    shutil.copy(grace_hopper_path, src / "b_hopper.jpg")
    Image.fromarray(astronaut).convert("CMYK").save(src / "c_cmyk.jpg")
    (src / "d_empty.png").write_bytes(b"")
    (src / "e_text.jpg").write_text("not really a jpeg")
    data = (src / "a_astronaut.png").read_bytes()
    (src / "f_truncated.png").write_bytes(data[: len(data) // 3])
    Image.fromarray(np.random.RandomState(0).randint(0, 255, (200, 200, 3), dtype=np.uint8)).save(src / "g_noise.png")
    (src / "notes.txt").write_text("a file that is not an image")
    (src / ".hidden.png").write_bytes(b"ignored")
    out = tmp_path / "out"
    counts = run(IdentityParams(backend="folder", source=str(src), count=100), out)
    rows = read_manifest(out)
    assert [r["source"] for r in rows] == ["a_astronaut.png", "b_hopper.jpg", "c_cmyk.jpg"]
    assert counts["rejected"] == {"unreadable": 3, "no_face": 1, "not_an_image": 1}
    problems = "\n".join(read_stage_info(out)["problems"])
    for name, reason in (("d_empty.png", "empty"), ("e_text.jpg", "not a recognised image format"),
                         ("f_truncated.png", "cannot decode"), ("notes.txt", "not an image file")):
        assert name in problems and reason in problems
    assert (out / "preview.png").exists()


def test_no_faces_at_all_is_an_error(tmp_path):
    src = tmp_path / "photos"
    src.mkdir()
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(src / "black.png")
    with pytest.raises(RuntimeError, match="no identities produced"):
        run(IdentityParams(backend="folder", source=str(src)), tmp_path / "out")


def test_stylegan2_backend_renders_seeds(tmp_path):
    import torch

    from components.identity.generators import StyleGAN2Backend
    from models.stylegan2 import StyleGAN2Generator

    torch.manual_seed(0)
    g = StyleGAN2Generator(z_dim=64, w_dim=64, img_resolution=32, channels={2: 32, 4: 32, 8: 32, 16: 16, 32: 8})
    torch.save(g.state_dict(), tmp_path / "g.pt")
    params = IdentityParams(backend="stylegan2", weights=str(tmp_path / "g.pt"), frame_size=64, pca_samples=64,
                            pca_components=3)
    backend = StyleGAN2Backend(params, str(tmp_path / "g.pt"))
    frames = backend.render(np.stack([backend.latent(1), backend.latent(1), backend.latent(2)]))
    assert frames.shape == (3, 64, 64, 3) and frames.dtype == np.uint8
    assert np.array_equal(frames[0], frames[1]) and not np.array_equal(frames[0], frames[2])
    moved = backend.moved_latent(1, 0, 2.0) - backend.latent(1)
    assert np.isclose(np.linalg.norm(moved), 2.0 * backend.directions.sigmas[0])


def test_stylegan2_snapshot_class_and_network(tmp_path, capsys):
    """A conditional StyleGAN2-ADA snapshot: one class per run, G_ema unless G is asked for."""
    import torch

    from components.cli import main as cli
    from components.identity.generators import StyleGAN2Backend
    from models.stylegan2 import StyleGAN2Generator

    from .stylegan_fixtures import write_snapshot

    def generator(seed):
        torch.manual_seed(seed)
        return StyleGAN2Generator(z_dim=32, w_dim=32, img_resolution=16, c_dim=3,
                                  channels={2: 16, 4: 16, 8: 16, 16: 8}).eval()

    path = tmp_path / "network-snapshot.pkl"
    write_snapshot(path, generator(0), tmp_path / "EXECUTED", g=generator(1))

    def frame(**kwargs):
        params = IdentityParams(backend="stylegan2", weights=str(path), frame_size=32, pca_samples=32,
                                pca_components=2, **kwargs)
        backend = StyleGAN2Backend(params, str(path))
        return backend.render(backend.latent(7)[None])[0]

    assert np.array_equal(frame(class_index=1), frame(class_index=1, network="G_ema"))
    assert not np.array_equal(frame(class_index=1), frame(class_index=2))
    assert not np.array_equal(frame(class_index=1), frame(class_index=1, network="G"))
    assert cli(["identity", "--backend", "stylegan2", "--weights", str(path), "--count", "1",
                "--out", str(tmp_path / "out")]) != 0
    assert "network-snapshot.pkl: this generator is conditional (c_dim=3): choose a class index in 0..2" \
        in capsys.readouterr().err
    with pytest.raises(ValueError, match="backend 'stylegan2' only"):
        IdentityParams(class_index=1)
    assert not (tmp_path / "EXECUTED").exists()
