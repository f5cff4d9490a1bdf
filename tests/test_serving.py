"""The embedded Triton endpoint: real tritonserver on loopback, real tritonclient requests."""
import json
import tempfile
import re
import urllib.request
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from components.cli import main as cli
from components.common.faces import FaceDetector, align
from components.common.fer_preprocess import preprocess
from components.common.imageio import read_image, write_image
from components.export.params import ExportParams
from components.export.run import run as export
from components.serve.client import ClientError, FERClient
from components.serve.repository import RepositoryError, embedded_copy
from components.serve.server import EmbeddedTriton, ServerError, free_ports
from components.common.fer_model import load_arrays
from components.common.datasets import load_dataset


@pytest.fixture(scope="module")
def repository(trained, toy_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    export(ExportParams(name="fer", max_batch_size=8), trained[0], out, dataset_dir=toy_dataset)
    return out


@pytest.fixture(scope="module")
def server(repository):
    with EmbeddedTriton(str(repository), free_ports()) as triton:
        yield triton


@pytest.fixture(scope="module")
def photos(tmp_path_factory, astronaut, grace_hopper_path):
    folder = tmp_path_factory.mktemp("photos")
    write_image(folder / "astronaut.png", astronaut)
    blank = np.full((120, 160, 3), 128, np.uint8)
    write_image(folder / "blank.png", blank)
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    return {"faces": [str(grace_hopper_path), str(folder / "astronaut.png")],
            "blank": str(folder / "blank.png"), "broken": str(folder / "broken.jpg")}


def onnxruntime_probabilities(repository, batch):
    session = ort.InferenceSession(str(repository / "fer" / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    logits = session.run(["logits"], {"input": batch})[0]
    z = np.exp(logits - logits.max(1, keepdims=True))
    return z / z.sum(1, keepdims=True)


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_predict_matches_onnxruntime_on_real_faces(server, repository, photos, protocol):
    url = server.http_url if protocol == "http" else server.grpc_url
    with FERClient(url, "fer", protocol=protocol) as client:
        assert client.model.labels == ["neutral", "happy", "sad"] and client.model.max_batch_size == 8
        results = client.predict_files(photos["faces"] * 5)  # 10 faces: more than one max_batch_size chunk
    detector = FaceDetector()
    crops = []
    for path in photos["faces"] * 5:
        image = read_image(path)
        face = detector.detect([image])[0][0]
        crops.append(align(image, face.landmarks, 100, 0.0).crop)
    expected = onnxruntime_probabilities(repository, preprocess(crops, client.model.spec))
    got = np.array([[r["probabilities"][k] for k in client.model.labels] for r in results])
    assert np.abs(got - expected).max() < 1e-4
    assert [r["prediction"] for r in results] == [client.model.labels[i] for i in expected.argmax(1)]


def test_serving_preprocessing_is_the_training_preprocessing(server, repository, toy_dataset):
    """The arrays training learnt from and the arrays the client sends are one function's output."""
    samples = load_dataset(f"fersynth:{toy_dataset}").samples[:12]
    with FERClient(server.http_url, "fer") as client:
        train_arrays, _, _ = load_arrays(samples, client.model.spec)
        crops = [read_image(sample.path) for sample in samples]  # what a client reads from the same files
        served = client.probabilities(crops)
    assert np.array_equal(preprocess(crops, client.model.spec), train_arrays)
    assert np.abs(served - onnxruntime_probabilities(repository, train_arrays)).max() < 1e-4


def test_cli_predict_reports_bad_images_and_goes_on(server, photos, capsys):
    code = cli(["predict", photos["faces"][0], photos["blank"], photos["broken"], "--url", server.http_url,
                "--model", "fer"])
    out = capsys.readouterr()
    results = json.loads(out.out)
    assert code == 0 and len(results) == 3
    assert set(results[0]["probabilities"]) == {"neutral", "happy", "sad"}
    assert abs(sum(results[0]["probabilities"].values()) - 1) < 1e-4
    assert results[1]["error"] == "no face found"
    assert "broken.jpg" in results[2]["error"] and "broken.jpg" in out.err


def test_clear_errors_for_wrong_version_and_unreachable_server(server):
    with pytest.raises(ClientError, match="version 7 of model 'fer' is not ready.*ready versions: 1"):
        FERClient(server.http_url, "fer", version="7")
    with pytest.raises(ClientError, match="model 'nope' is not ready"):
        FERClient(server.grpc_url, "nope", protocol="grpc")
    port = free_ports().http  # nothing listens there
    with pytest.raises(ClientError, match=f"127.0.0.1:{port} .*unreachable"):
        FERClient(f"127.0.0.1:{port}", "fer")
    assert cli(["predict", "x.png", "--url", f"127.0.0.1:{port}"]) == 1


def test_triton_metrics_count_requests(server, photos):
    with FERClient(server.http_url, "fer") as client:
        client.predict_files(photos["faces"])
    text = urllib.request.urlopen(server.metrics_url, timeout=5).read().decode()
    counts = {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
              if line.startswith("nv_inference_request_success{")}
    assert counts['nv_inference_request_success{model="fer",version="1"}'] >= 1
    dashboard = (Path(__file__).resolve().parents[1] / "charts" / "fersynth-serving" / "dashboards" / "fersynth.json")
    plotted = set(re.findall(r"\b(nv_\w+)", dashboard.read_text()))
    exported = set(re.findall(r"^(nv_\w+)", text, re.MULTILINE))
    assert plotted and plotted <= exported, plotted - exported


def test_repository_errors_name_the_path(repository, tmp_path):
    with pytest.raises(RepositoryError, match="no <model>/config.pbtxt"):
        embedded_copy(tmp_path, tmp_path / "out")
    broken = tmp_path / "broken"
    (broken / "fer" / "1").mkdir(parents=True)
    (broken / "fer" / "config.pbtxt").write_text((repository / "fer" / "config.pbtxt").read_text())
    with pytest.raises(RepositoryError, match=r"fer/1/model.onnx: missing or empty"):
        embedded_copy(broken, tmp_path / "out")


def test_serves_a_repository_from_the_object_store(repository, s3_env):
    from components.common import storage

    s3_env.bucket("models")
    storage.upload_dir(repository, "s3://models/fer-repo")
    with EmbeddedTriton("s3://models/fer-repo", free_ports()) as triton:
        with FERClient(triton.http_url, "fer") as client:
            assert client.model.labels == ["neutral", "happy", "sad"]


@pytest.mark.integration  # starts Triton
def test_a_model_that_cannot_load_is_a_clear_error(repository, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(repository, bad)
    (bad / "fer" / "1" / "model.onnx").write_bytes(b"\x08\x07 definitely not a protobuf")
    server = EmbeddedTriton(str(bad), free_ports())
    with pytest.raises(ServerError, match=r"(?s)exited with code .*fer"):
        server.start()
    assert not server.workdir.exists()  # nothing left behind


@pytest.mark.integration  # starts Triton through `fersynth serve`
@pytest.mark.parametrize("stop", ["SIGTERM", "SIGKILL"])
def test_fersynth_serve_command_takes_triton_down_with_it(repository, stop):
    """`fersynth serve` as users run it: stopped (or killed outright), its Triton is gone too."""
    import signal
    import subprocess
    import sys
    import time

    ports = free_ports()
    proc = subprocess.Popen([sys.executable, "-m", "components.cli", "serve", "--model-repository", str(repository),
                             "--http-port", str(ports.http), "--grpc-port", str(ports.grpc), "--metrics-port",
                             str(ports.metrics)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "Triton serving fer" in line, proc.stderr.read()[-2000:] if proc.poll() is not None else line
        with FERClient(f"127.0.0.1:{ports.http}", "fer") as client:
            assert client.model.labels == ["neutral", "happy", "sad"]
        proc.send_signal(getattr(signal, stop))
        assert proc.wait(timeout=30) == (143 if stop == "SIGTERM" else -signal.SIGKILL)
    finally:
        proc.kill()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{ports.http}/v2/health/live", timeout=1)
        except OSError:
            break
        time.sleep(0.2)
    else:
        pytest.fail("Triton still answers after `fersynth serve` was stopped")
    with EmbeddedTriton(str(repository), free_ports()):  # the next server sweeps what a killed one left
        pass
    left = [d for d in Path(tempfile.gettempdir()).glob("fersynth-triton-*") if (d / "owner.pid").is_file()
            and (d / "owner.pid").read_text() == str(proc.pid)]
    assert not left
