"""Stage results cached outside KFP's per-run artifact folders, for the embedded run.

KFP's local runner gives every run fresh artifact folders and has no cache, so a re-run
after a crash would redo everything. When FERSYNTH_STAGE_CACHE names a folder, a component
runs its stage in <cache>/<stage>-<key>, where the key hashes the stage's parameters and the
manifests of its inputs: an interrupted stage resumes there (its journal), a finished one
(stage.json present) is not run again, and the result is copied into the artifact folder.
On a cluster the variable is unset and KFP's own caching applies.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Callable

from .manifest import MANIFEST_NAME, STAGE_NAME
from .telemetry import emit_event

ENV = "FERSYNTH_STAGE_CACHE"


def cache_key(stage: str, params: dict, inputs: list[str | Path]) -> str:
    digest = hashlib.sha256(json.dumps({"stage": stage, "params": params}, sort_keys=True, default=str).encode())
    for path in inputs:
        for name in (MANIFEST_NAME, "model.pt", STAGE_NAME):
            candidate = Path(path) / name
            if candidate.is_file():
                digest.update(candidate.read_bytes())
                break
    return digest.hexdigest()[:16]


def run_cached(stage: str, params, run: Callable, inputs: list[str | Path], output: str | Path, **kwargs):
    """Run `run(params, *inputs, out, **kwargs)` through the cache if FERSYNTH_STAGE_CACHE is set."""
    root = os.environ.get(ENV)
    if not root:
        result = run(params, *inputs, output, **kwargs)
        emit_event("finished", stage=stage, dataset=str(output))
        return result
    work = Path(root) / f"{stage}-{cache_key(stage, params.model_dump(), list(inputs) + list(kwargs.values()))}"
    if (work / STAGE_NAME).is_file():
        result = json.loads((work / STAGE_NAME).read_text()).get("counts", {})
        result["cached"] = True
    else:
        result = run(params, *inputs, work, **kwargs)
    output = Path(output)
    if output.exists():
        shutil.rmtree(output)
    shutil.copytree(work, output, ignore=shutil.ignore_patterns(".journal.jsonl", ".lock", ".cache"))
    emit_event("finished", stage=stage, dataset=str(output), cached=bool(result.get("cached")))
    return result
