"""The cluster side: compiled pipeline settings, stage images and their Dockerfiles."""
import re
from pathlib import Path

import pytest
import yaml

from components.common.images import stage_image
from pipelines import cluster_cli, image_build
from components.stages import PIPELINE_STAGES as STAGE_OUTPUTS
from pipelines.cluster import GPU_RESOURCE, S3_SECRET

ROOT = Path(__file__).resolve().parents[1]
INSTRUCTIONS = {"FROM", "RUN", "COPY", "ADD", "ENV", "ARG", "WORKDIR", "USER", "LABEL", "EXPOSE", "ENTRYPOINT",
                "CMD", "VOLUME", "HEALTHCHECK", "SHELL", "STOPSIGNAL", "ONBUILD"}


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    import os

    assert "FERSYNTH_IMAGE_REGISTRY" not in os.environ, "unset FERSYNTH_IMAGE_REGISTRY to compare with the checked-in file"
    path = cluster_cli.compile_pipeline(tmp_path_factory.mktemp("c") / "p.yaml")
    return path


def _body(path: Path) -> str:
    # KFP's header comment prints the parameter dicts in hash order, which changes between processes.
    return "\n".join(line for line in path.read_text().splitlines() if not line.startswith("#"))


def test_checked_in_pipelines_are_current(compiled, tmp_path):
    assert _body(cluster_cli.COMPILED) == _body(compiled), \
        "pipelines/compiled/fer_pipeline.yaml is stale: run `fersynth compile`"
    sweep = cluster_cli.compile_pipeline(tmp_path / "s.yaml", sweep=True)
    assert _body(cluster_cli.COMPILED_SWEEP) == _body(sweep), \
        "pipelines/compiled/fer_sweep_pipeline.yaml is stale: run `fersynth compile`"


@pytest.mark.integration  # a whole pipeline run
def test_sweep_pipeline_runs_mixes_in_parallel_locally(tmp_path, monkeypatch):
    import builtins
    import csv

    from kfp import local

    from pipelines.fer_pipeline import fer_sweep_pipeline
    from pipelines.local_run import print_guard
    from pipelines.pipeline_inputs import pipeline_arguments

    monkeypatch.setenv("FERSYNTH_STAGE_CACHE", str(tmp_path / "cache"))
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "root"),
               raise_on_error=True)
    with print_guard():
        task = fer_sweep_pipeline(**pipeline_arguments({
            "identity": {"count": 6, "preview_seeds": 0, "pca_samples": 128, "pca_components": 4},
            "expression": {"emotions": ["neutral", "happy", "sad"]}, "adapt": {"output_size": 64},
            "select": {"batch_size": 6, "top_k": 5, "fid": False}, "annotate": {},
            "train": {"epochs": 1, "batch_size": 4, "val_fraction": 0.3, "test_fraction": 0.3,
                      "classes": ["neutral", "happy", "sad"]},
            "evaluate": {}}), ratios=[1.0, 2.0])
    assert builtins.print.__module__ == "builtins", "print put back after the run"
    with open(Path(task.output.path) / "sweep.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 and all(r["synthetic held-out"] for r in rows)


def test_compiled_yaml_has_cluster_settings(compiled):
    docs = list(yaml.safe_load_all(compiled.read_text()))
    spec, platform = docs[0], docs[1]
    executors = spec["deploymentSpec"]["executors"]
    assert {e["container"]["image"] for e in executors.values()} == {stage_image(s) for s in STAGE_OUTPUTS}
    by_stage = {}
    for name, executor in executors.items():
        if name == "exec-shard-plan-op":  # a list of shard indices, on the identity image, no GPU
            assert "accelerator" not in executor["container"]["resources"]
            continue
        stage = next(s for s in STAGE_OUTPUTS if executor["container"]["image"] == stage_image(s))
        by_stage.setdefault(stage, []).append((name, executor["container"]))
    # a sharded stage has a part task per shard (in the ParallelFor) and a merge; both get the stage's resources
    assert {name for name, _ in by_stage["identity"]} == {"exec-identity-part-op", "exec-identity-merge-op"}
    for stage, name, container in ((s, n, c) for s, tasks in by_stage.items() for n, c in tasks):
        res = container["resources"]
        assert res["cpuRequest"] == res["cpuLimit"] == float(STAGE_OUTPUTS[stage].resources.cpu)
        assert res["memoryLimit"] > 0
        if STAGE_OUTPUTS[stage].resources.gpu:
            assert res["accelerator"]["resourceType"] == GPU_RESOURCE and res["accelerator"]["resourceCount"] == "1"
        else:
            assert "accelerator" not in res
    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    for stage, name in ((s, n) for s, tasks in by_stage.items() for n, _ in tasks):
        config = k8s[name]
        assert config["secretAsEnv"][0]["secretName"] == S3_SECRET
        envs = {e["envVar"] for e in config["secretAsEnv"][0]["keyToEnv"]}
        assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "FERSYNTH_S3_ENDPOINT"} <= envs
        if STAGE_OUTPUTS[stage].resources.gpu:
            assert config["nodeSelector"]["labels"] == {"nvidia.com/gpu.present": "true"}
            assert config["tolerations"][0]["key"] == GPU_RESOURCE
    tasks = {n: t for n, t in spec["root"]["dag"]["tasks"].items()
             if n != "shard-plan-op" and not n.startswith("for-loop-")}  # the plan and the ParallelFor groups
    assert all(t["cachingOptions"].get("enableCache") for t in tasks.values())
    assert all(t["retryPolicy"]["maxRetryCount"] == 2 for t in tasks.values())
    parts = {n: t for c in spec["components"].values() for n, t in c.get("dag", {}).get("tasks", {}).items()
             if n.endswith("-part-op")}
    assert set(parts) == {f"{s}-part-op" for s in ("identity", "expression", "adapt", "select", "privacy")}
    assert all(t["retryPolicy"]["maxRetryCount"] == 2 for t in parts.values())


def _instructions(path: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        assert word.upper() in INSTRUCTIONS, f"{path}: unknown instruction {word}"
        out.append((word.upper(), rest.strip()))
    return out


def test_dockerfiles_parse_and_name_existing_files():
    base = _instructions(ROOT / image_build.BASE_DOCKERFILE)
    stages = [rest for instruction, rest in base if instruction == "FROM"]
    assert len(stages) == 2 and stages[0].endswith(" AS builder"), "a builder stage, then the final image"
    final = base[[i for i, (instruction, _) in enumerate(base) if instruction == "FROM"][1]:]
    assert any(i == "USER" and r != "root" for i, r in final)
    assert not any(i == "RUN" and re.search(r"\b(g\+\+|gcc|build-essential)\b", r) for i, r in final), \
        "no compiler in the final image"
    assert ("COPY", "--from=builder /opt/fersynth /opt/fersynth") in final
    for instruction, rest in base:
        if instruction == "COPY" and not rest.startswith("--from"):
            for source in rest.split()[:-1]:
                assert (ROOT / source).exists(), f"Dockerfile.base copies missing {source}"
                assert re.search(rf"^!{re.escape(source)}/?$", (ROOT / ".dockerignore").read_text(), re.M), \
                    f"{source} is left out of the build context by .dockerignore"
    steps = _instructions(ROOT / image_build.STAGE_DOCKERFILE)
    args = [r for i, r in steps if i == "ARG"]
    assert args[0].split("=")[1] == stage_image("base") and "STAGE" in args
    assert ("FROM", "${BASE_IMAGE}") in steps and ("USER", "10001") in steps
    assert ("ENV", "FERSYNTH_STAGE=${STAGE}") in steps


def test_images_command_builds_every_stage_tag(capsys):
    from components.cli import main

    assert main(["images"]) == 0
    commands = capsys.readouterr().out.splitlines()
    assert commands[0] == f"docker build -f images/Dockerfile.base -t {stage_image('base')} ."
    for stage in STAGE_OUTPUTS:
        assert any(f"--build-arg STAGE={stage} " in c and c.endswith(f"-t {stage_image(stage)} .") for c in commands)
    assert len(commands) == 1 + len(STAGE_OUTPUTS)


def test_podman_builds_see_the_hosts_pip_setup(tmp_path, monkeypatch):
    """A local index's pages link to files beside the index folder: the mount must hold both."""
    index = tmp_path / "pypi" / "simple"
    index.mkdir(parents=True)
    conf = tmp_path / "pip.conf"
    conf.write_text(f"[global]\nextra-index-url = file://{index}\nfind-links = {tmp_path / 'gone'}\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    mounts = image_build.host_pip_mounts()
    pairs = [mounts[i + 1] for i in range(0, len(mounts), 2)]
    assert all(flag == "--volume" for flag in mounts[::2])
    assert f"{index.parent}:{index.parent}:ro" in pairs and f"{conf}:{conf}:ro" in pairs
    assert not any("gone" in pair for pair in pairs), "paths that do not exist are not mounted"


def test_submit_to_an_unreachable_host_fails_clearly(capsys):
    from components.cli import main
    from tests.services import free_port

    assert main(["submit", "--host", f"http://127.0.0.1:{free_port()}"]) == 1
    assert "cannot reach the Kubeflow Pipelines API" in capsys.readouterr().err



def test_local_runs_do_not_retry_a_failed_task():
    """Retries compile into the cluster pipeline; the local run drops them from its own copy."""
    from pipelines.fer_pipeline import fer_pipeline
    from pipelines.local_run import without_retries

    def tasks(pipeline):
        graph = pipeline.component_spec.implementation.graph
        dags = [graph.root.dag] + [c.dag for c in graph.components.values() if c.HasField("dag")]
        return [task for dag in dags for task in dag.tasks.values()]

    assert not any(t.HasField("retry_policy") for t in tasks(without_retries(fer_pipeline)))
    assert all(t.retry_policy.max_retry_count == 2 for t in tasks(fer_pipeline) if not t.HasField("parameter_iterator")
               and t.component_ref.name != "comp-shard-plan-op"), "the cluster pipeline keeps them"
