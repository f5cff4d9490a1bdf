"""The embedded run: the real KFP pipeline executed by KFP's local runner (subprocesses or containers).

Writes a run folder:
  <run>/config.yaml      the validated parameters of every stage
  <run>/<stage>/         each stage's dataset (a link to its KFP artifact)
  <run>/summary.json     counts and timings of every stage
  <run>/kfp/             KFP's pipeline root (artifacts, executor logs, stage-cache/)
"""
from __future__ import annotations

import builtins
import contextlib
import copy
import json
import os
import time
import warnings
from pathlib import Path

import yaml

from components.common import stage_cache
from components.common.config import ConfigError, build_params, load_config
from components.common.manifest import read_stage_info
from components.stages import PIPELINE_STAGES

DEMO_CONFIG = Path(__file__).with_name("demo.yaml")


def resolve_config(config_path: str | Path | None) -> dict[str, dict]:
    """Validate every stage section now, before anything runs; unknown sections are errors."""
    path = Path(config_path) if config_path else DEMO_CONFIG
    sections = load_config(path)
    stages = PIPELINE_STAGES
    unknown = sorted(set(sections) - set(stages))
    if unknown:
        raise ConfigError(f"{path}: unknown stage sections {unknown} (known: {sorted(stages)})")
    return {name: build_params(stage.params, sections.get(name, {}), where=f"{path} [{name}]").model_dump(exclude_none=True)
            for name, stage in stages.items()}


def headline_numbers(stages: dict) -> dict:
    """The numbers a user looks at first: how much data, how good, how far from the references."""
    counts = {name: info.get("counts", {}) for name, info in stages.items()}
    sets = counts["evaluate"].get("sets", {})
    kept_distance = stages["select"].get("distances", {}).get("kept vs reference", {})
    return {
        "identities": counts["identity"].get("identities"),
        "images_made": counts["adapt"].get("images"),
        "images_kept": counts["select"].get("kept"),
        "train_images": counts["train"].get("train_samples"),
        "held_out_accuracy": sets.get("synthetic held-out", {}).get("accuracy"),
        "held_out_macro_f1": sets.get("synthetic held-out", {}).get("macro_f1"),
        "real_test_accuracy": {name: result.get("accuracy") for name, result in sets.items()
                               if name != "synthetic held-out"},
        "fid_kept": kept_distance.get("fid"),
        "kid_kept": kept_distance.get("kid"),
        "flagged_identities": counts["privacy"].get("flagged"),
    }


def _lock_run_dir(run_dir: Path):
    """An exclusive lock on the run folder: two runs into one folder would mix their stages."""
    import fcntl

    handle = open(run_dir / ".run.lock", "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise RuntimeError(f"{run_dir}: another `fersynth run` is using this run folder") from None
    return handle


def link_datasets(run_dir: Path, pipeline_dir: Path) -> dict[str, dict]:
    """<run>/<stage> -> the stage's KFP artifact; returns every stage's stage.json."""
    stages = {}
    for name, stage in PIPELINE_STAGES.items():
        link = run_dir / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(pipeline_dir / stage.task / stage.output)
        stages[name] = read_stage_info(link)
    return stages


def run_summary(run_dir: Path, seconds: float, stages: dict[str, dict]) -> dict:
    """summary.json: counts and timings of every stage, where the pictures and reports are, the headline."""
    def named(stage: str, key: str) -> str | None:
        return f"{stage}/{stages[stage][key]}" if stages[stage].get(key) else None

    return {
        "run_dir": str(run_dir),
        "wall_s": round(seconds, 2),
        "stages": {name: {"counts": info["counts"], "timings_s": info["timings_s"], "dataset": name}
                   for name, info in stages.items()},
        "preview": named("identity", "preview"),
        "contact_sheet": named("adapt", "contact_sheet"),
        "quality_report": f"select/{stages['select']['report']}",
        "labels": "annotate/labels.csv",
        "seed_review": named("annotate", "gallery"),
        "evaluation": "evaluate/report.html",
        "held_out_synthetic": stages["evaluate"].get("headline"),
        "privacy": {"report": "privacy/privacy.html", **{k: stages["privacy"]["counts"].get(k) for k in
                                                          ("references", "flagged", "dropped_identities")}},
        "bias": {"report": "bias/bias.html", **{k: stages["bias"]["counts"].get(k) for k in
                                                 ("overall_accuracy", "flagged_groups")}},
        "model_repository": "export",
        "report": "report.html",
        "headline": headline_numbers(stages),
    }


RUNNERS = ("subprocess", "docker")


@contextlib.contextmanager
def print_guard():
    """Put back the `print` found on entry. KFP's local runner swaps builtins.print for an indenting one
    around each task and restores what it saw; parallel tasks (ParallelFor) interleave those swaps
    and can leave an indenting print behind, which would indent everything printed after the run."""
    original = builtins.print
    try:
        yield
    finally:
        builtins.print = original


def without_retries(pipeline):
    """The pipeline minus its tasks' retries, which KFP's local runner honours. On a cluster a
    preempted node is worth a retry; on one machine a stage fails for reasons a retry does not fix
    (bad input, a bug), the backoff only delays the message by minutes, and re-running the command
    resumes from the stage cache anyway."""
    local_pipeline = copy.deepcopy(pipeline)
    graph = local_pipeline.component_spec.implementation.graph
    dags = [graph.root.dag] + [c.dag for c in graph.components.values() if c.HasField("dag")]  # ParallelFor bodies
    for dag in dags:
        for task in dag.tasks.values():
            task.ClearField("retry_policy")
    return local_pipeline


def _init_runner(kind: str, run_dir: Path, stack: contextlib.ExitStack) -> None:
    """KFP's local runner of `kind`, with the run's stage cache inside KFP's pipeline root.

    Stage results are kept there, so re-running the same command after a crash or an interruption
    resumes: finished stages are reused, a half-done stage continues (stage_cache.py). The pipeline
    root is the part of the run folder that container tasks see too (mounted at the same path)."""
    from kfp import local

    from components.common.telemetry import EVENTS_ENV

    root = run_dir / "kfp"
    cache = root / "stage-cache"
    cache.mkdir(parents=True, exist_ok=True)
    if kind == "subprocess":
        os.environ[stage_cache.ENV] = str(cache)
        runner = local.SubprocessRunner(use_venv=False)
    elif kind == "docker":
        from components.common.images import stage_image
        from pipelines.container_runner import check_images, docker_runner, engine_api

        stack.enter_context(engine_api(run_dir))
        check_images([stage_image(stage) for stage in PIPELINE_STAGES])
        # Host variables do not reach containers: pass what the stages read. The user cache is the
        # run's, so a derived model (FID's ONNX copy) is made once per run, not once per task.
        runner = docker_runner({stage_cache.ENV: str(cache), EVENTS_ENV: "1",
                                "FERSYNTH_CACHE": str(root / "user-cache"), "HOME": "/tmp"})
    else:
        raise ConfigError(f"unknown runner {kind!r}: choose one of {', '.join(RUNNERS)}")
    # KFP deletes its workspace folder after every run; it holds nothing of ours.
    local.init(runner=runner, pipeline_root=str(root), workspace_root=str(root / "workspace"), raise_on_error=True)


def run_local(config_path: str | Path | None = None, out_dir: str | Path | None = None,
              verbose: bool = False, runner: str = "subprocess", shards: int = 1) -> dict:
    """Run the pipeline; the console shows a bar and a result line per stage, <run>/logs/ the rest.

    `shards` splits identity, expression and adapt into that many parallel tasks (same result)."""
    from pipelines.console import RunConsole
    from pipelines.fer_pipeline import fer_pipeline
    from pipelines.pipeline_inputs import pipeline_arguments
    from pipelines.run_report import write_run_report

    params = resolve_config(config_path)
    run_dir = Path(out_dir or Path("runs") / time.strftime("%Y%m%d-%H%M%S")).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = _lock_run_dir(run_dir)  # noqa: F841  (held until this function returns)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    started = time.perf_counter()
    tasks = {task: name for name, stage in PIPELINE_STAGES.items() for task in stage.tasks}
    console = RunConsole(run_dir, {**tasks, "shard-plan-op": "identity"}, verbose)
    with contextlib.ExitStack() as engine:
        _init_runner(runner, run_dir, engine)
        try:
            with print_guard(), console, warnings.catch_warnings():
                # The runner warns that stage images are not run here; that is the point of the embedded run.
                warnings.filterwarnings("ignore", message=".*non-Python base image.*")
                warnings.filterwarnings("ignore", message=".*accelerator.*")
                warnings.filterwarnings("ignore", message=".*have no effect in the current local runner.*")
                task = without_retries(fer_pipeline)(**pipeline_arguments(params), shards=shards)
        except RuntimeError as exc:  # KFP says only "Task ... FAILURE"; the console knows the stage and why
            raise RuntimeError(console.failure()) from exc
    stages = link_datasets(run_dir, Path(task.output.path).parents[1])  # <root>/<pipeline>-<timestamp>
    summary = run_summary(run_dir, time.perf_counter() - started, stages)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    write_run_report(run_dir, summary, stages)
    return summary
