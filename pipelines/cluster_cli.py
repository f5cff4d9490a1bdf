"""Cluster commands: compile the pipeline, list the stage images, submit and schedule runs on KFP."""
from __future__ import annotations

import json
import re
from pathlib import Path


COMPILED = Path(__file__).parent / "compiled" / "fer_pipeline.yaml"
COMPILED_SWEEP = Path(__file__).parent / "compiled" / "fer_sweep_pipeline.yaml"
REPO_ROOT = Path(__file__).resolve().parents[1]


def compile_pipeline(path: str | Path = COMPILED, sweep: bool = False) -> Path:
    from kfp import compiler

    from pipelines.fer_pipeline import fer_pipeline, fer_sweep_pipeline

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(fer_sweep_pipeline if sweep else fer_pipeline, str(path))
    _integer_defaults(path)
    return path


def _integer_defaults(path: Path) -> None:
    """KFP writes every number as a float (protobuf numbers are doubles), `defaultValue: 256.0` for an
    integer input too; write an integer input's default as the integer, in the header comment as well."""
    import yaml

    lines = path.read_text().splitlines(True)
    start = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    docs = list(yaml.safe_load_all("".join(lines[start:])))

    def fix(node):
        if isinstance(node, dict):
            default = node.get("defaultValue")
            if node.get("parameterType") == "NUMBER_INTEGER" and isinstance(default, float) and default.is_integer():
                node["defaultValue"] = int(default)
            for value in node.values():
                fix(value)

    fix(docs[0])
    header = [re.sub(r"^(#\s+\w+: int \[Default: -?\d+)\.0\]$", r"\1]", line) for line in lines[:start]]
    path.write_text("".join(header) + yaml.dump_all(docs, sort_keys=True))


def _client(host: str):
    import kfp

    try:
        client = kfp.Client(host=host)
        client.get_kfp_healthz()
    except Exception as exc:  # the client raises many kinds; all mean "no usable KFP API here"
        raise RuntimeError(f"cannot reach the Kubeflow Pipelines API at {host}: {type(exc).__name__}: "
                           f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
    return client


def _package() -> str:
    """A freshly compiled pipeline in a temporary folder (the installed package may be read-only)."""
    import tempfile

    return str(compile_pipeline(Path(tempfile.mkdtemp(prefix="fersynth-")) / COMPILED.name))


def submit(host: str, arguments: dict, experiment: str = "fersynth", run_name: str | None = None) -> str:
    client = _client(host)
    result = client.create_run_from_pipeline_package(_package(), arguments=arguments,
                                                     experiment_name=experiment, run_name=run_name)
    return result.run_id


def schedule(host: str, cron: str, arguments: dict, experiment: str = "fersynth", job_name: str = "fersynth-nightly"):
    client = _client(host)
    experiment_id = client.create_experiment(experiment).experiment_id
    job = client.create_recurring_run(experiment_id=experiment_id, job_name=job_name, cron_expression=cron,
                                      pipeline_package_path=_package(), params=arguments,
                                      max_concurrency=1)
    return job.recurring_run_id if hasattr(job, "recurring_run_id") else json.dumps(str(job))
