import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("FERSYNTH_NO_PROGRESS", "1")

# Test tiers. `integration`: a test that starts a real server (S3, Triton, Pushgateway/Prometheus),
# runs the whole pipeline or drives a browser; marked explicitly or through the fixtures below.
# `unit`: everything else (`pytest -m unit` is the quick loop). `slow`: benchmarks CI skips.
INTEGRATION_FIXTURES = {"s3_server", "s3_env", "server", "pushgateway"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("slow") or item.get_closest_marker("integration"):
            continue
        if INTEGRATION_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.integration)
        else:
            item.add_marker(pytest.mark.unit)


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()  # public-domain NASA photo with one face


@pytest.fixture(scope="session")
def grace_hopper_path() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """A real S3 server (Ceph RGW) on loopback for the whole session."""
    from .services import CephRGW, ceph_available

    if not ceph_available():
        pytest.skip("Ceph RGW is not installed (apt-get install radosgw ceph-mon ceph-osd; .ci/run does)")
    server = CephRGW(tmp_path_factory.mktemp("ceph"))
    info = server.start()
    yield info
    server.stop()


@pytest.fixture()
def s3_env(s3_server, monkeypatch):
    """Point fersynth at the test server through the environment, as a user would."""
    monkeypatch.setenv("FERSYNTH_S3_ENDPOINT", s3_server.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    return s3_server


@pytest.fixture(scope="session")
def toy_dataset(tmp_path_factory):
    from .toy_fer import write_toy_dataset

    return write_toy_dataset(tmp_path_factory.mktemp("toy"))


@pytest.fixture(scope="session")
def trained(toy_dataset, tmp_path_factory):
    """(model folder, train counts) of the toy model."""
    from components.train.params import TrainParams
    from components.train.run import run as train

    from .toy_fer import FAST

    out = tmp_path_factory.mktemp("model")
    return out, train(TrainParams(**FAST), toy_dataset, out)
