"""Stage metrics reach a real Pushgateway; a real Prometheus scrapes it and the embedded Triton."""
import socket
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from components.export.params import ExportParams
from components.export.run import run as export
from components.identity.params import IdentityParams
from components.identity.run import run as identity

from .services import Prometheus, Pushgateway

pytestmark = pytest.mark.skipif(not (Pushgateway.available() and Prometheus.available()),
                                reason="apt-get install prometheus prometheus-pushgateway (.ci/run does)")


@pytest.fixture(scope="module")
def pushgateway(tmp_path_factory):
    server = Pushgateway(tmp_path_factory.mktemp("pushgateway")).start()
    yield server
    server.stop()


def samples(url: str) -> dict[tuple, float]:
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def stage_value(metrics: dict, name: str, stage: str, **labels) -> float:
    wanted = {("stage", stage), *labels.items()}
    found = [v for (n, lab), v in metrics.items() if n == name and wanted <= set(lab)]
    assert found, f"{name} for stage {stage} not pushed"
    return sum(found)


def test_stages_push_counts_and_timings(pushgateway, tmp_path, monkeypatch, trained, toy_dataset):
    monkeypatch.setenv("FERSYNTH_PUSHGATEWAY", pushgateway.address)
    counts = identity(IdentityParams(count=6, preview_seeds=0), tmp_path / "ids")
    export(ExportParams(name="fer"), trained[0], tmp_path / "export", dataset_dir=toy_dataset)
    metrics = samples(f"http://{pushgateway.address}/metrics")
    seen = stage_value(metrics, "fersynth_images_in_total", "identity")
    out = stage_value(metrics, "fersynth_images_out_total", "identity")
    assert seen == 6 and out == counts["identities"]
    rejected = sum(v for (n, lab), v in metrics.items()
                   if n == "fersynth_images_rejected_total" and ("stage", "identity") in lab)
    assert out + rejected == seen
    assert stage_value(metrics, "fersynth_seconds_per_image_count", "identity") == out
    assert stage_value(metrics, "fersynth_seconds_per_image_sum", "identity") > 0
    assert stage_value(metrics, "fersynth_images_in_total", "export") > 0
    for stage in ("identity", "export"):
        assert stage_value(metrics, "fersynth_stage_duration_seconds", stage) > 0
        assert abs(stage_value(metrics, "fersynth_stage_last_success_timestamp_seconds", stage) - time.time()) < 600


def test_an_unreachable_pushgateway_never_fails_a_stage(tmp_path, monkeypatch, caplog):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("FERSYNTH_PUSHGATEWAY", f"127.0.0.1:{port}")
    counts = identity(IdentityParams(count=2, preview_seeds=0), tmp_path / "ids")
    assert counts["identities"] >= 1
    assert "could not push metrics" in caplog.text


def test_prometheus_scrapes_triton_and_the_pushgateway(pushgateway, tmp_path, trained, toy_dataset, astronaut):
    from components.serve.client import FERClient
    from components.serve.server import EmbeddedTriton, free_ports

    export(ExportParams(name="fer"), trained[0], tmp_path / "export", dataset_dir=toy_dataset)
    ports = free_ports()
    with EmbeddedTriton(str(tmp_path / "export"), ports) as triton:
        with FERClient(triton.http_url, "fer") as client:
            crop, _ = client.align_face(astronaut)
            for _ in range(3):
                client.probabilities([crop])
        prometheus = Prometheus(tmp_path / "prometheus", {"triton": f"127.0.0.1:{ports.metrics}",
                                                           "pushgateway": pushgateway.address}).start()
        try:
            deadline, triton_result, pushed = time.monotonic() + 30, [], []
            while time.monotonic() < deadline and not (triton_result and pushed):
                time.sleep(1)
                triton_result = prometheus.query('nv_inference_request_success{model="fer"}')
                pushed = prometheus.query("fersynth_images_in_total")
        finally:
            prometheus.stop()
    assert triton_result and float(triton_result[0]["value"][1]) >= 3
    assert pushed, "Prometheus did not see the stage metrics on the Pushgateway"
