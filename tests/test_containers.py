"""The pipeline in its container images, through KFP's DockerRunner on a real engine (podman here).

These need a container engine and the stage images (`fersynth images --build`; .ci/run builds them).
Where there is no engine they are skipped, unless FERSYNTH_REQUIRE_CONTAINERS=1 (CI), which turns a
missing engine or image into a failure.
"""
import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from components.common.images import stage_image
from components.stages import PIPELINE_STAGES

pytestmark = pytest.mark.integration
REQUIRED = os.environ.get("FERSYNTH_REQUIRE_CONTAINERS") == "1"


def _need_images():
    if not shutil.which("podman") and not shutil.which("docker"):
        if REQUIRED:
            pytest.fail("FERSYNTH_REQUIRE_CONTAINERS=1 but neither podman nor docker is installed")
        pytest.skip("no container engine")
    engine = shutil.which("podman") or shutil.which("docker")
    missing = [stage_image(s) for s in PIPELINE_STAGES
               if subprocess.run([engine, "image", "exists" if "podman" in engine else "inspect", stage_image(s)],
                                 capture_output=True).returncode != 0]
    if missing:
        if REQUIRED:
            pytest.fail(f"stage images missing: {missing}")
        pytest.skip(f"stage images not built ({len(missing)} missing): fersynth images --build")


@pytest.fixture(scope="module")
def engine_client(tmp_path_factory):
    _need_images()
    import docker

    from pipelines.container_runner import engine_api

    with engine_api(tmp_path_factory.mktemp("engine")):
        client = docker.from_env()
        yield client
        client.close()


def test_a_failing_container_reports_its_exit_code_and_is_removed(engine_client, capfd):
    from pipelines.container_runner import run_container

    before = {c.id for c in engine_client.containers.list(all=True)}
    code = run_container(engine_client, stage_image("annotate"),
                         ["python3", "-c", "import os, sys; print('from the task', os.environ['GREETING']); sys.exit(3)"],
                         volumes={}, base_environment={"GREETING": "hello"}, auto_remove=True)
    assert code == 3
    assert "from the task hello" in capfd.readouterr().out
    assert {c.id for c in engine_client.containers.list(all=True)} == before, "the container is removed"


def test_missing_image_is_named_before_anything_runs(engine_client):
    from pipelines.container_runner import ImageMissing, check_images

    with pytest.raises(ImageMissing, match="localhost/fersynth-none:0.0.0.*fersynth images --build"):
        check_images([stage_image("annotate"), "localhost/fersynth-none:0.0.0"])


def _run(config: dict, tmp_path, name: str, runner: str = "docker") -> tuple[subprocess.CompletedProcess, object]:
    cfg = tmp_path / f"{name}.yaml"
    cfg.write_text(yaml.safe_dump(config))
    run_dir = tmp_path / name
    result = subprocess.run([sys.executable, "-m", "components.cli", "run", "--runner", runner, "--config", str(cfg),
                             "--out", str(run_dir)], capture_output=True, text=True, timeout=1500)
    return result, run_dir


def _files(folder) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and (p.suffix == ".png" or p.name == "manifest.csv")}


SMALL = {"identity": {"count": 16, "preview_seeds": 0, "pca_samples": 256, "pca_components": 8},
         "expression": {"emotions": ["neutral", "happy", "sad", "surprise"]},
         "adapt": {"output_size": 64},
         "select": {"batch_size": 16, "top_k": 14, "fid_images": 16},
         "train": {"epochs": 2, "batch_size": 8, "val_fraction": 0.25, "test_fraction": 0.25,
                   "classes": ["neutral", "happy", "sad", "surprise"]},
         "evaluate": {"test_sets": []}}


def test_pipeline_runs_in_its_containers(engine_client, tmp_path):
    result, run_dir = _run(SMALL, tmp_path, "small")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    console = result.stdout.splitlines()
    assert sorted(line.split()[0] for line in console[:len(PIPELINE_STAGES)]) == sorted(PIPELINE_STAGES), console
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["stages"]["identity"]["counts"]["identities"] == 16
    assert summary["stages"]["train"]["counts"]["epochs_run"] == 2
    model = run_dir / "export"
    assert list(model.rglob("model.onnx")), "the export stage wrote the ONNX model"
    # Each task ran in its own image, as the caller, writing into the mounted run folder.
    for stage in PIPELINE_STAGES:
        assert f"running task container of image {stage_image(stage)}" in (run_dir / "logs" / f"{stage}.log").read_text()
    assert all(p.stat().st_uid == os.getuid() for p in (run_dir / "kfp" / "stage-cache").rglob("stage.json"))
    # The images hold the same code and packages as this environment: the same data, byte for byte.
    embedded, embedded_dir = _run(SMALL, tmp_path, "embedded", runner="subprocess")
    assert embedded.returncode == 0, embedded.stderr[-3000:]
    for stage in ("identity", "expression", "adapt", "select", "privacy"):
        ours, theirs = _files(run_dir / stage), _files(embedded_dir / stage)
        assert ours and ours == theirs, f"{stage}: container and embedded outputs differ"


def test_a_failing_stage_in_a_container_fails_the_run(engine_client, tmp_path):
    broken = {**SMALL, "identity": {"backend": "folder", "source": str(tmp_path / "no-such-folder"), "count": 4}}
    result, run_dir = _run(broken, tmp_path, "broken")
    assert result.returncode == 1, result.stdout[-2000:]
    assert "identity failed" in result.stderr and "no-such-folder" in result.stderr, result.stderr[-2000:]
    assert not (run_dir / "summary.json").exists()
