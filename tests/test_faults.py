"""Fault injection: kills, a failing object store, a full disk, corrupt inputs, bad configs and
labels, concurrent writers. Every case is registered with `fault(...)`; `scripts/fault_matrix.py`
runs this module and writes docs/fault-matrix.md from the registry and the outcomes."""
from __future__ import annotations

import io
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from components.cli import main as cli
from components.common import storage
from components.common.imageio import read_image
from components.common.manifest import read_manifest

from .faultproxy import FaultProxy
from .test_cli_pipeline import assert_headline_matches_evaluation

FAULT_CASES: dict[str, dict] = {}  # test name -> {"id", "area", "fault", "expected"}
REPO = Path(__file__).resolve().parents[1]


def fault(case_id: str, area: str, injected: str, expected: str):
    def register(fn):
        FAULT_CASES[fn.__name__] = {"id": case_id, "area": area, "fault": injected, "expected": expected}
        return fn
    return register


def fersynth(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "components.cli", *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, **kwargs)


def journal_ok_keys(out: Path) -> list[str]:
    path = out / ".journal.jsonl"
    if not path.exists():
        return []
    keys = []
    for line in path.read_text().splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if entry.get("status") == "ok":
            keys.append(entry["key"])
    return keys


def dataset_files(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for sub in ("images", "frames")
            for p in sorted((out / sub).glob("*.png"))}


IDENTITY = ["identity", "--count", "96", "--batch-size", "8", "--preview-seeds", "0"]


@pytest.fixture(scope="module")
def clean_identity_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("clean") / "ids"
    assert cli([*IDENTITY, "--out", str(out)]) == 0
    return out


# --- crashes ------------------------------------------------------------------------------------

@fault("K1", "crash", "SIGKILL the identity stage mid-batch, then re-run the same command",
       "finished images are not redone (same inode and mtime); the result is byte-identical to an "
       "uninterrupted run")
def test_killed_stage_resumes_without_redoing_or_losing_work(clean_identity_run, tmp_path):
    out = tmp_path / "ids"
    proc = fersynth(*IDENTITY, "--out", str(out))
    deadline = time.monotonic() + 120
    while len(journal_ok_keys(out)) < 20 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = journal_ok_keys(out)
    assert 20 <= len(finished) < 96, "the kill must land mid-batch"
    before = {k: (out / "images" / f"{k}.png").stat() for k in finished}
    assert cli([*IDENTITY, "--out", str(out)]) == 0
    for key, st in before.items():
        after = (out / "images" / f"{key}.png").stat()
        assert (after.st_ino, after.st_mtime_ns) == (st.st_ino, st.st_mtime_ns), f"{key} was redone"
    assert dataset_files(out) == dataset_files(clean_identity_run)
    assert read_manifest(out) == read_manifest(clean_identity_run)


@fault("K2", "crash", "a half-written image and a stray temp file left by a crash (never journaled)",
       "the re-run rewrites the torn image, ignores the temp file; no torn file is ever listed")
def test_torn_files_from_a_crash_are_never_read_as_complete(clean_identity_run, tmp_path):
    out = tmp_path / "ids"
    shutil.copytree(clean_identity_run, out)
    manifest_rows = read_manifest(out)
    victim = manifest_rows[-1]["id"]
    lines = (out / ".journal.jsonl").read_text().splitlines()
    (out / ".journal.jsonl").write_text("\n".join(line for line in lines if f'"{victim}"' not in line) + "\n" +
                                        lines[-1][: len(lines[-1]) // 2])  # and a torn journal line
    image = out / "images" / f"{victim}.png"
    image.write_bytes(image.read_bytes()[:200])
    (out / "images" / f".{victim}.png.abc.tmp").write_bytes(b"partial")
    assert cli([*IDENTITY, "--out", str(out)]) == 0
    read_image(image)  # complete again
    assert dataset_files(out) == dataset_files(clean_identity_run)
    assert all(not r["path"].endswith(".tmp") for r in read_manifest(out))


@fault("K3", "crash", "SIGKILL the whole `fersynth run` (runner and stage processes) during the expression "
       "stage, then re-run", "finished stages are reused from the stage cache, the run completes")
@pytest.mark.integration  # a whole pipeline run
def test_killed_embedded_run_resumes(tmp_path):
    config = tmp_path / "small.yaml"
    config.write_text(yaml.safe_dump({
        "identity": {"count": 8, "preview_seeds": 0, "pca_samples": 128, "pca_components": 4},
        "expression": {"emotions": ["neutral", "happy", "sad"]}, "adapt": {"output_size": 64},
        "select": {"batch_size": 8, "top_k": 6, "fid_images": 6},
        "privacy": {"reference": []},
        "train": {"epochs": 1, "batch_size": 4, "val_fraction": 0.3, "test_fraction": 0.3,
                  "classes": ["neutral", "happy", "sad"]}}))
    run_dir = tmp_path / "run"
    proc = fersynth("run", "--config", str(config), "--out", str(run_dir))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if list((run_dir / "kfp" / "stage-cache").glob("expression-*/.journal.jsonl")):
            break
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    identity_done = list((run_dir / "kfp" / "stage-cache").glob("identity-*/stage.json"))
    assert identity_done, "the kill must land after the identity stage"
    mtime = identity_done[0].stat().st_mtime_ns
    proc = fersynth("run", "--config", str(config), "--out", str(run_dir))
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-2000:]
    assert identity_done[0].stat().st_mtime_ns == mtime  # reused
    assert_headline_matches_evaluation(run_dir)


# --- object store -------------------------------------------------------------------------------

def _dataset(root: Path, n: int = 12) -> Path:
    rng = np.random.RandomState(0)
    for i in range(n):
        (root / "images").mkdir(parents=True, exist_ok=True)
        (root / "images" / f"{i}.bin").write_bytes(rng.bytes(4096))
    (root / "manifest.csv").write_text("id,path\n")
    return root


@fault("S1", "object store", "endpoint unreachable (nothing listening)",
       "retries with backoff, then a clear error naming the object; the secret is never printed")
def test_unreachable_store_fails_naming_the_object(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FERSYNTH_S3_ENDPOINT", "127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "fault-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fault-secret-never-printed")
    started = time.monotonic()
    code = cli(["annotate", "--in", "s3://data/labelled", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1 and "s3://data/labelled" in err and "failed after 4 attempts" in err
    assert "fault-secret-never-printed" not in err
    assert time.monotonic() - started < 60


@fault("S2", "object store", "the store resets the first connections (flaky network)",
       "the upload retries and completes; every object is there with the right bytes")
def test_flaky_store_upload_completes(s3_env, tmp_path, monkeypatch):
    s3_env.bucket("faults")
    proxy = FaultProxy(s3_env.endpoint).up()
    monkeypatch.setenv("FERSYNTH_S3_ENDPOINT", proxy.address)
    proxy.drop_connections = 2
    local = _dataset(tmp_path / "d")
    assert storage.upload_dir(local, "s3://faults/flaky") == 13
    assert proxy.drop_connections == 0
    storage.download_dir("s3://faults/flaky", tmp_path / "back")
    assert dataset_bytes(tmp_path / "back") == dataset_bytes(local)
    proxy.down()


def dataset_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@fault("S3", "object store", "every chunk delayed by 50 ms (slow store)",
       "the transfer completes, content identical")
def test_slow_store_still_completes(s3_env, tmp_path, monkeypatch):
    s3_env.bucket("faults")
    local = _dataset(tmp_path / "d", n=4)
    storage.upload_dir(local, "s3://faults/slow")
    proxy = FaultProxy(s3_env.endpoint).up()
    proxy.delay_s = 0.05
    monkeypatch.setenv("FERSYNTH_S3_ENDPOINT", proxy.address)
    storage.download_dir("s3://faults/slow", tmp_path / "back")
    assert dataset_bytes(tmp_path / "back") == dataset_bytes(local)
    proxy.down()


@fault("S4", "object store", "the store goes down in the middle of an upload, then comes back",
       "a clear error naming the object; the local data is intact; the re-run uploads only what is "
       "missing and the prefix ends complete")
def test_store_down_mid_upload_then_resume(s3_env, tmp_path, monkeypatch):
    s3_env.bucket("faults")
    proxy = FaultProxy(s3_env.endpoint).up()
    monkeypatch.setenv("FERSYNTH_S3_ENDPOINT", proxy.address)
    local = _dataset(tmp_path / "d", n=30)
    written: list[str] = []
    real_write = storage.write_bytes

    def write_then_fail(loc, data):
        real_write(loc, data)
        written.append(str(loc))
        if len(written) == 10 and proxy.drop_connections == 0:
            proxy.drop_connections = -1  # once
            proxy.down()

    monkeypatch.setattr(storage, "write_bytes", write_then_fail)
    with pytest.raises(storage.StorageError, match=r"s3://faults/mid/images/\S+: failed after 4 attempts"):
        storage.upload_dir(local, "s3://faults/mid")
    assert dataset_bytes(local) == dataset_bytes(_dataset(tmp_path / "again", n=30))  # nothing lost locally
    proxy.up()
    written.clear()
    assert storage.upload_dir(local, "s3://faults/mid") == 31
    assert len(written) <= 31 - 10  # only what was missing (a write cut mid-way may have landed)
    storage.download_dir("s3://faults/mid", tmp_path / "back")
    assert dataset_bytes(tmp_path / "back") == dataset_bytes(local)
    proxy.down()


# --- disk ---------------------------------------------------------------------------------------

@pytest.fixture()
def small_disk(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1500k", "tmpfs", str(mount)],
                                           capture_output=True).returncode:
        pytest.skip("needs root to mount a small tmpfs (CI runs as root)")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


@fault("D1", "disk", "the output filesystem fills up mid-stage (1.5 MB tmpfs)",
       "the stage stops with an error naming the file and 'No space left on device'; every journaled "
       "image is complete; after space is freed the re-run finishes and matches an uninterrupted run")
def test_disk_full_mid_stage(small_disk, clean_identity_run, capsys):
    out = small_disk / "ids"
    code = cli([*IDENTITY, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and "No space left on device" in err and str(small_disk) in err
    finished = journal_ok_keys(out)
    assert finished, "some images should have been written before the disk filled"
    for key in finished:
        read_image(out / "images" / f"{key}.png")
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    assert cli([*IDENTITY, "--out", str(out)]) == 0
    assert dataset_files(out) == dataset_files(clean_identity_run)


# --- corrupt inputs -----------------------------------------------------------------------------

def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) + \
        chunk(b"IEND", b"")


def _encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kwargs)
    return buf.getvalue()


def corrupt_inputs(face: Image.Image) -> dict[str, tuple[str, bytes, str]]:
    """kind -> (file name, bytes, expected outcome: 'kept' or the reason it is refused)."""
    jpeg, png = _encode(face, "JPEG", quality=90), _encode(face, "PNG")
    grey16 = Image.fromarray((np.asarray(face.convert("L"), np.uint16) * 257))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    rotated = face.transpose(Image.Transpose.ROTATE_90)  # stored sideways, EXIF turns it upright
    return {
        "truncated JPEG": ("truncated.jpg", jpeg[: len(jpeg) // 2], "cannot decode"),
        "truncated PNG": ("truncated.png", png[: len(png) // 2], "cannot decode"),
        "zero bytes": ("empty.jpg", b"", "file is empty"),
        "text renamed .jpg": ("notes.jpg", b"these are not pixels\n" * 20, "not a recognised image format"),
        "CMYK JPEG": ("cmyk.jpg", _encode(face.convert("CMYK"), "JPEG"), "kept"),
        "16-bit greyscale PNG": ("grey16.png", _encode(grey16, "PNG"), "kept"),
        "RGBA PNG (alpha channel)": ("alpha.png", _encode(face.convert("RGBA"), "PNG"), "kept"),
        "EXIF-rotated JPEG": ("exif.jpg", _encode(rotated, "JPEG", exif=exif), "kept"),
        "1x1 image": ("tiny.png", _encode(Image.new("RGB", (1, 1)), "PNG"), "smaller than"),
        "20000x20000 image (header)": ("huge.png", _png_header_only(20000, 20000), "pixel limit"),
    }


@pytest.fixture(scope="module")
def face_photo(grace_hopper_path):
    return Image.open(grace_hopper_path).convert("RGB")


@fault("I1", "corrupt input", "each kind of bad image file beside a good photo in a folder source",
       "bad files are refused with the file and the reason in stage.json, readable odd formats are "
       "converted and kept; the good photo is always processed")
@pytest.mark.parametrize("kind", [pytest.param(k, id=f"{k} -> {'converted, kept' if v[2] == 'kept' else 'refused: ' + v[2]}")
                                  for k, v in corrupt_inputs(Image.new("RGB", (8, 8))).items()])
def test_corrupt_inputs_are_refused_or_converted(kind, face_photo, grace_hopper_path, tmp_path):
    name, data, expected = corrupt_inputs(face_photo)[kind]
    source = tmp_path / "photos"
    source.mkdir()
    shutil.copy(grace_hopper_path, source / "good.jpg")
    (source / name).write_bytes(data)
    out = tmp_path / "ids"
    assert cli(["identity", "--backend", "folder", "--source", str(source), "--out", str(out),
                "--preview-seeds", "0"]) == 0
    info = json.loads((out / "stage.json").read_text())
    sources = {Path(r["source"]).name for r in read_manifest(out)}
    assert "good.jpg" in sources
    if expected == "kept":
        assert name in sources, info["problems"]
    else:
        assert name not in sources
        assert any(name in p and expected in p for p in info["problems"]), info["problems"]


# --- bad configs and label files ----------------------------------------------------------------

BAD_CONFIGS = {
    "YAML syntax error": ("identity:\n  count: [1, 2\n", "config.yaml"),
    "unknown parameter": ("identity:\n  cuont: 5\n", "cuont"),
    "wrong type": ("identity:\n  count: many\n", "count"),
    "out of range": ("identity:\n  count: -3\n", "count"),
    "unknown stage section": ("idnetity:\n  count: 5\n", "idnetity"),
    "not a mapping": ("- identity\n- expression\n", "config.yaml"),
}


@fault("C1", "config", "malformed run configs (syntax, unknown key, wrong type, range, unknown section, "
       "not a mapping)", "exit code 2 before anything runs, naming the file and the offending key")
@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_bad_configs_are_refused_before_running(case, tmp_path, capsys):
    text, named = BAD_CONFIGS[case]
    config = tmp_path / "config.yaml"
    config.write_text(text)
    assert cli(["run", "--config", str(config), "--out", str(tmp_path / "run")]) == 2
    assert named in capsys.readouterr().err
    assert not (tmp_path / "run" / "kfp").exists()


@fault("C2", "labels", "label files with bad rows: RAF-DB list with an unknown label and a missing image, "
       "FER2013 CSV with a wrong pixel count, a seed list with an unknown emotion",
       "the bad rows are reported with file and line, the good rows are used; a seed list error names "
       "the seed")
def test_bad_label_rows_are_reported_and_skipped(tmp_path, face_photo):
    from components.annotate.seedlist import load_seed_list
    from components.common.datasets import load_dataset

    raf = tmp_path / "raf"
    (raf / "Image" / "aligned").mkdir(parents=True)
    (raf / "EmoLabel").mkdir()
    for stem in ("train_00001", "train_00002"):
        face_photo.resize((100, 100)).save(raf / "Image" / "aligned" / f"{stem}_aligned.jpg")
    (raf / "EmoLabel" / "list_patition_label.txt").write_text(
        "train_00001.jpg 4\ntrain_00002.jpg 42\ntrain_00003.jpg 1\n")
    loaded = load_dataset(f"rafdb:{raf}")
    assert len(loaded.samples) == 1 and len(loaded.problems) == 2
    assert any("42" in p for p in loaded.problems) and any("train_00003" in p for p in loaded.problems)
    fer = tmp_path / "fer2013.csv"
    good = " ".join(["128"] * 48 * 48)
    fer.write_text(f"emotion,pixels,Usage\n3,{good},Training\n3,1 2 3,Training\n")
    loaded = load_dataset(f"fer2013:{fer}")
    assert len(loaded.samples) == 1 and any("fer2013.csv:3:" in p for p in loaded.problems)
    seeds = tmp_path / "seeds.yaml"
    seeds.write_text("seeds:\n  12: {emotion: happy}\n  13: {emotion: gleeful}\n")
    with pytest.raises(ValueError, match="seeds.yaml.*13.*unknown emotion 'gleeful'"):
        load_seed_list(str(seeds))


# --- concurrency --------------------------------------------------------------------------------

@fault("R1", "concurrency", "two identity stages started at once on the same output folder",
       "the second is refused ('another fersynth process is writing this directory'); the first "
       "completes and matches an uninterrupted run")
def test_two_writers_on_one_folder(clean_identity_run, tmp_path):
    out = tmp_path / "ids"
    first = fersynth(*IDENTITY, "--out", str(out))
    while not (out / ".journal.jsonl").exists() and first.poll() is None:
        time.sleep(0.05)
    second = fersynth(*IDENTITY, "--out", str(out))
    _, err2 = second.communicate(timeout=120)
    _, err1 = first.communicate(timeout=300)
    assert second.returncode == 1 and "another fersynth process is writing this directory" in err2
    assert first.returncode == 0, err1[-2000:]
    assert dataset_files(out) == dataset_files(clean_identity_run)


@fault("R2", "concurrency", "a second `fersynth run` into a run folder that is in use",
       "refused at once; the first run is unaffected")
def test_two_runs_into_one_run_folder(tmp_path, capsys):
    from pipelines.local_run import _lock_run_dir

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    holder = _lock_run_dir(run_dir)  # as a running `fersynth run` holds it
    try:
        assert cli(["run", "--out", str(run_dir)]) == 1
        assert "another `fersynth run` is using this run folder" in capsys.readouterr().err
    finally:
        holder.close()


@fault("R3", "concurrency", "two machines writing the same s3:// output prefix",
       "the second writer is refused by the prefix lease (naming the holder); after the first "
       "finishes the prefix is free again")
def test_two_writers_on_one_s3_prefix(s3_env, tmp_path, monkeypatch):
    s3_env.bucket("faults")
    monkeypatch.setenv("FERSYNTH_CACHE", str(tmp_path / "machine-a"))
    first = storage.PrefixLease("s3://faults/shared").acquire()
    monkeypatch.setenv("FERSYNTH_CACHE", str(tmp_path / "machine-b"))
    with pytest.raises(storage.StorageError, match="another fersynth run .*machine-a.* is writing this prefix"):
        storage.PrefixLease("s3://faults/shared").acquire()
    monkeypatch.setenv("FERSYNTH_CACHE", str(tmp_path / "machine-a"))
    storage.PrefixLease("s3://faults/shared").acquire().release()  # the same writer resumes its own lease
    first.release()
    monkeypatch.setenv("FERSYNTH_CACHE", str(tmp_path / "machine-b"))
    storage.PrefixLease("s3://faults/shared").acquire().release()


def test_the_fault_matrix_document_lists_every_case():
    matrix = (REPO / "docs" / "fault-matrix.md").read_text()
    missing = [case["id"] for case in FAULT_CASES.values() if f"| {case['id']} |" not in matrix]
    assert not missing, f"re-run scripts/fault_matrix.py: {missing} not in docs/fault-matrix.md"
