"""The opening and closing every stage's run() shares, so that run() holds only its own work.

    stage = StageRun(STAGE, params, out)          # telemetry and the clock start
    with stage.journal(input_digest) as journal:  # resumable work, keyed by parameters and input
        ...                                       # stage.telemetry counts and times
        stage.finish(counts, report=...)          # stage.json (with the total time), metrics push
"""
from __future__ import annotations

import time
from pathlib import Path

from .journal import Journal
from .manifest import write_stage_info
from .telemetry import StageTelemetry


class StageRun:
    def __init__(self, stage: str, params, out: str | Path):
        self.stage, self.params, self.out = stage, params, Path(out)
        self.telemetry = StageTelemetry(stage)
        self._started = time.perf_counter()

    def journal(self, input_digest: str | None = None) -> Journal:
        """The stage's journal: a re-run with the same parameters (and input) resumes it."""
        key = self.params.output_params()
        return Journal(self.out, key if input_digest is None else {"params": key, "input": input_digest})

    def finish_shard(self, shard, counts: dict) -> dict:
        """A shard's part: its counts and which shard it is; the merge makes the dataset (shards.py)."""
        shard.mark(self.out, counts)
        return self.finish(counts, shard=f"{shard.index}/{shard.count}")

    def finish(self, counts: dict, **extra) -> dict:
        """Write stage.json (counts, timings with the total, extra fields) and push the metrics."""
        self.telemetry.timings["total"] = time.perf_counter() - self._started
        write_stage_info(self.out, self.stage, self.params.model_dump(), counts, self.telemetry.timings,
                         extra=extra or None)
        self.telemetry.push()
        return counts
