"""Stage results cached outside KFP's per-run artifact folders, for the embedded run.

KFP's local runner gives every run fresh artifact folders and has no cache, so a re-run
after a crash would redo everything. When FERSYNTH_STAGE_CACHE names a folder, a component
runs its stage in <cache>/<stage>-<key>, where the key hashes the stage's parameters and the
manifests of its inputs: an interrupted stage resumes there (its journal), a finished one
(stage.json present) is not run again, and the result is copied into the artifact folder.
On a cluster the variable is unset and KFP's own caching applies.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Callable

from .manifest import MANIFEST_NAME, STAGE_NAME
from .shards import Shard, merge_run
from .telemetry import emit_event

ENV = "FERSYNTH_STAGE_CACHE"


def cache_key(stage: str, params: dict, inputs: list[str | Path], extra: str = "") -> str:
    """The parameters, the manifests (or model, or stage.json) of the input folders, and `extra`."""
    digest = hashlib.sha256(json.dumps({"stage": stage, "params": params, "extra": extra}, sort_keys=True,
                                       default=str).encode())
    for path in inputs:
        for name in (MANIFEST_NAME, "model.pt", STAGE_NAME):
            candidate = Path(path) / name
            if candidate.is_file():
                digest.update(candidate.read_bytes())
                break
    return digest.hexdigest()[:16]


def run_cached(stage: str, params, run: Callable, inputs: list[str | Path], output: str | Path,
               shard: Shard | None = None, parts: list[str | Path] = (), **kwargs):
    """Run `run(params, *inputs, out, **kwargs)` through the cache if FERSYNTH_STAGE_CACHE is set.

    With `shard`, the run makes that shard's part (kept with its journal, which the merge needs).
    With `parts`, the shard parts are merged into the output first and the run finishes the dataset."""
    if shard is not None:
        kwargs["shard"] = shard
    run = functools.partial(merge_run(run, parts) if parts else run, **kwargs)
    root = os.environ.get(ENV)
    event = "part" if shard is not None else "finished"
    if not root:
        result = run(params, *inputs, output)
        emit_event(event, stage=stage, dataset=str(output))
        return result
    paths = list(inputs) + list(parts) + [v for v in kwargs.values() if isinstance(v, (str, Path))]
    extra = f"shard {shard.index}/{shard.count}" if shard is not None else ""
    work = Path(root) / f"{stage}-{cache_key(stage, params.model_dump(), paths, extra)}"
    if (work / STAGE_NAME).is_file():
        result = json.loads((work / STAGE_NAME).read_text()).get("counts", {})
        result["cached"] = True
    else:
        result = run(params, *inputs, work)
    output = Path(output)
    if output.exists():
        shutil.rmtree(output)
    kept_out = (".lock", ".cache") if shard is not None else (".journal.jsonl", ".lock", ".cache")
    shutil.copytree(work, output, ignore=shutil.ignore_patterns(*kept_out))
    emit_event(event, stage=stage, dataset=str(output), cached=bool(result.get("cached")))
    return result
