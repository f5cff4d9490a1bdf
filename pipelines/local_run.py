"""The embedded run: the real KFP pipeline executed by KFP's local SubprocessRunner.

Writes a run folder:
  <run>/config.yaml      the validated parameters of every stage
  <run>/<stage>/         each stage's dataset (a link to its KFP artifact)
  <run>/summary.json     counts and timings of every stage
  <run>/kfp/             KFP's pipeline root (artifacts and executor logs)
"""
from __future__ import annotations

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


def run_local(config_path: str | Path | None = None, out_dir: str | Path | None = None,
              verbose: bool = False) -> dict:
    """Run the pipeline; the console shows a bar and a result line per stage, <run>/logs/ the rest."""
    from kfp import local

    from pipelines.console import RunConsole
    from pipelines.fer_pipeline import fer_pipeline
    from pipelines.run_report import write_run_report

    params = resolve_config(config_path)
    run_dir = Path(out_dir or Path("runs") / time.strftime("%Y%m%d-%H%M%S")).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = _lock_run_dir(run_dir)  # noqa: F841  (held until this function returns)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(run_dir / "kfp"),
               raise_on_error=True)
    # Stage results are kept in the run folder, so re-running the same command after a crash or an
    # interruption resumes: finished stages are reused, a half-done stage continues (stage_cache.py).
    os.environ[stage_cache.ENV] = str(run_dir / "stage-cache")
    started = time.perf_counter()
    console = RunConsole(run_dir, {stage.task: name for name, stage in PIPELINE_STAGES.items()}, verbose)
    try:
        with console, warnings.catch_warnings():
            # The runner warns that stage images are not run here; that is the point of the embedded run.
            warnings.filterwarnings("ignore", message=".*non-Python base image.*")
            warnings.filterwarnings("ignore", message=".*accelerator.*")
            warnings.filterwarnings("ignore", message=".*have no effect in the current local runner.*")
            task = fer_pipeline(**params)
    except RuntimeError as exc:  # KFP says only "Task ... FAILURE"; the console knows the stage and why
        raise RuntimeError(console.failure()) from exc
    stages = link_datasets(run_dir, Path(task.output.path).parents[1])  # <root>/<pipeline>-<timestamp>
    summary = run_summary(run_dir, time.perf_counter() - started, stages)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    write_run_report(run_dir, summary, stages)
    return summary
