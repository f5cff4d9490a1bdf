"""Storage by URI, against the local disk and a real S3 server (Ceph RGW) on loopback."""
import shutil

import pytest
from PIL import Image

from components.cli import main
from components.common import storage
from components.common.manifest import read_manifest, read_stage_info
from components.identity.params import IdentityParams
from components.identity.run import run


def test_parse_uri():
    assert storage.parse_uri("s3://bucket/a/b") == storage.Location("s3", "bucket", "a/b")
    assert storage.parse_uri("file:///tmp/x") == storage.Location("file", "", "/tmp/x")
    assert storage.parse_uri("rel/dir").key == "rel/dir"
    with pytest.raises(storage.StorageError, match="needs a bucket"):
        storage.parse_uri("s3:///nobucket")
    with pytest.raises(storage.StorageError, match="unsupported URI scheme"):
        storage.parse_uri("gs://bucket/x")


def test_s3_needs_credentials_from_the_environment(monkeypatch):
    for name in ("FERSYNTH_S3_ENDPOINT", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(storage.StorageError, match="FERSYNTH_S3_ENDPOINT"):
        storage.read_bytes("s3://b/k")
    monkeypatch.setenv("FERSYNTH_S3_ENDPOINT", "127.0.0.1:9")
    with pytest.raises(storage.StorageError, match="AWS_ACCESS_KEY_ID"):
        storage.read_bytes("s3://b/k")


def test_local_files_round_trip(tmp_path):
    storage.write_bytes(f"file://{tmp_path}/d/x.bin", b"abc")
    assert storage.read_bytes(str(tmp_path / "d" / "x.bin")) == b"abc"
    assert list(storage.list_files(str(tmp_path))) == ["d/x.bin"]
    with pytest.raises(storage.StorageError, match="not a directory"):
        list(storage.list_files(str(tmp_path / "missing")))


def test_s3_round_trip_and_dirs(s3_env, tmp_path):
    s3_env.bucket("roundtrip")
    storage.write_bytes("s3://roundtrip/p/one.bin", b"1" * 10)
    assert storage.read_bytes("s3://roundtrip/p/one.bin") == b"1" * 10
    (tmp_path / "src" / "sub").mkdir(parents=True)
    (tmp_path / "src" / "sub" / "a.txt").write_text("a")
    (tmp_path / "src" / ".journal.jsonl").write_text("working file, stays local")
    assert storage.upload_dir(tmp_path / "src", "s3://roundtrip/ds") == 1
    assert list(storage.list_files("s3://roundtrip/ds")) == ["sub/a.txt"]
    assert storage.download_dir("s3://roundtrip/ds", tmp_path / "copy") == 1
    assert (tmp_path / "copy" / "sub" / "a.txt").read_text() == "a"
    with pytest.raises(storage.StorageError, match=r"read s3://roundtrip/p/missing.bin: NoSuchKey"):
        storage.read_bytes("s3://roundtrip/p/missing.bin")


def test_wrong_secret_is_refused_without_leaking_it(s3_env, monkeypatch):
    s3_env.bucket("secrets")
    storage.write_bytes("s3://secrets/k", b"x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with pytest.raises(storage.StorageError) as err:
        storage.read_bytes("s3://secrets/k")
    assert "SignatureDoesNotMatch" in str(err.value) and "s3://secrets/k" in str(err.value)
    assert s3_env.secret_key not in str(err.value) and "not-the-secret" not in str(err.value)


def test_unreachable_endpoint_fails_after_retries_naming_the_object(s3_env, monkeypatch):
    from .services import free_port

    monkeypatch.setenv("FERSYNTH_S3_ENDPOINT", f"127.0.0.1:{free_port()}")
    with pytest.raises(storage.StorageError, match=r"read s3://any/obj: failed after 4 attempts"):
        storage.read_bytes("s3://any/obj")


def test_folder_backend_reads_photos_from_a_bucket(s3_env, tmp_path, astronaut, grace_hopper_path):
    s3_env.bucket("photos")
    Image.fromarray(astronaut).save(tmp_path / "astronaut.png")
    storage.write_bytes("s3://photos/faces/astronaut.png", (tmp_path / "astronaut.png").read_bytes())
    storage.write_bytes("s3://photos/faces/hopper.jpg", grace_hopper_path.read_bytes())
    storage.write_bytes("s3://photos/faces/broken.jpg", b"\xff\xd8\xff garbage")
    counts = run(IdentityParams(backend="folder", source="s3://photos/faces"), tmp_path / "out")
    assert counts["identities"] == 2 and counts["rejected"] == {"unreadable": 1}
    assert "s3://photos/faces/broken.jpg" in "\n".join(read_stage_info(tmp_path / "out")["problems"])


def test_stage_writes_its_dataset_to_a_bucket(s3_env, tmp_path, monkeypatch):
    s3_env.bucket("datasets")
    monkeypatch.setenv("FERSYNTH_CACHE", str(tmp_path / "cache"))
    code = main(["identity", "--count", "2", "--preview-seeds", "0", "--out", "s3://datasets/runs/ids"])
    assert code == 0
    names = list(storage.list_files("s3://datasets/runs/ids"))
    assert "manifest.csv" in names and "stage.json" in names
    assert not any(n.startswith(".") for n in names)
    local = storage.download_dir("s3://datasets/runs/ids", tmp_path / "back")
    rows = read_manifest(tmp_path / "back")
    assert local == len(names) and all((tmp_path / "back" / r["path"]).exists() for r in rows)
    shutil.rmtree(tmp_path / "back")


@pytest.mark.integration  # a whole pipeline run
def test_embedded_run_with_inputs_and_outputs_in_the_object_store(s3_env, tmp_path):
    """Weights and seed list come from the bucket, the model repository goes back to it."""
    import json
    import os
    import subprocess
    import sys

    import numpy as np
    import onnxruntime as ort
    import yaml

    from models.dcgan import packaged_dcgan_weights

    s3_env.bucket("fer-inputs")
    s3_env.bucket("fer-models")
    storage.write_bytes("s3://fer-inputs/weights/dcgan64.tar", packaged_dcgan_weights().read_bytes())
    storage.write_bytes("s3://fer-inputs/seeds.yaml", b"seeds:\n  3: {emotion: sad}\n")
    config = {"identity": {"count": 6, "preview_seeds": 0, "pca_samples": 128, "pca_components": 4,
                           "weights": "s3://fer-inputs/weights/dcgan64.tar"},
              "expression": {"emotions": ["neutral", "happy", "sad"]}, "adapt": {"output_size": 64},
              "select": {"batch_size": 6, "top_k": 5, "fid": False},
              "annotate": {"seed_list": "s3://fer-inputs/seeds.yaml"},
              "train": {"epochs": 1, "batch_size": 4, "val_fraction": 0.3, "test_fraction": 0.3,
                        "classes": ["neutral", "happy", "sad"]},
              "export": {"repository": "s3://fer-models/triton"}}
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(config))
    result = subprocess.run([sys.executable, "-m", "components.cli", "run", "--config", str(cfg), "--out",
                             str(tmp_path / "run")], capture_output=True, text=True, timeout=600,
                            env={**os.environ, "FERSYNTH_CACHE": str(tmp_path / "cache")})
    assert result.returncode == 0, result.stderr[-3000:]
    assert s3_env.secret_key not in result.stdout + result.stderr  # credentials never logged
    names = set(storage.list_files("s3://fer-models/triton"))
    assert {"fersynth_fer/config.pbtxt", "fersynth_fer/1/model.onnx", "fersynth_fer/labels.txt"} <= names
    local = tmp_path / "model.onnx"
    local.write_bytes(storage.read_bytes("s3://fer-models/triton/fersynth_fer/1/model.onnx"))
    session = ort.InferenceSession(str(local), providers=["CPUExecutionProvider"])
    shape = [d if isinstance(d, int) else 2 for d in session.get_inputs()[0].shape]
    assert session.run(None, {"input": np.zeros(shape, np.float32)})[0].shape == (2, 3)
    stage = json.loads((tmp_path / "run" / "annotate" / "stage.json").read_text())
    assert stage["counts"]["seed_list_seeds"] == 1


def test_training_datasets_by_s3_uri(s3_env, tmp_path, monkeypatch, astronaut):
    from components.common.datasets import load_dataset

    monkeypatch.setenv("FERSYNTH_CACHE", str(tmp_path / "cache"))
    s3_env.bucket("fer-real")
    Image.fromarray(astronaut).save(tmp_path / "a.png")
    for name in ("happy/s1_a.png", "sad/s2_b.png"):
        storage.write_bytes(f"s3://fer-real/tree/{name}", (tmp_path / "a.png").read_bytes())
    pixels = " ".join(["90"] * 48 * 48)
    storage.write_bytes("s3://fer-real/fer/fer2013.csv", f"emotion,pixels\n3,{pixels}\n".encode())
    assert sorted(s.label for s in load_dataset("folder:s3://fer-real/tree").samples) == ["happy", "sad"]
    assert [s.label for s in load_dataset("fer2013:s3://fer-real/fer/fer2013.csv").samples] == ["happy"]
