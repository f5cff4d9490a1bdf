"""Stage telemetry: Prometheus counters and timings, progress bars, a plain run summary.

Each stage gets the same metric families, labelled by stage:
  fersynth_images_in_total, fersynth_images_out_total,
  fersynth_images_rejected_total{reason}, fersynth_seconds_per_image,
  fersynth_stage_duration_seconds, fersynth_stage_last_success_timestamp_seconds.
Batch stages push them to a Pushgateway when FERSYNTH_PUSHGATEWAY is set (host:port); the
cluster gets it from the `fersynth-telemetry` ConfigMap (charts/fersynth-pipeline).
"""
from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections import Counter as TallyCounter
from contextlib import contextmanager
from typing import Iterable, Iterator, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, push_to_gateway
from tqdm import tqdm

T = TypeVar("T")
log = logging.getLogger("fersynth")


class StageTelemetry:
    """Counts and timings of one stage run; also kept as plain numbers for stage.json."""

    def __init__(self, stage: str, registry: CollectorRegistry | None = None):
        self.stage = stage
        self.registry = registry or CollectorRegistry()
        self._in = Counter("fersynth_images_in", "Images a stage received", ["stage"], registry=self.registry)
        self._out = Counter("fersynth_images_out", "Images a stage produced", ["stage"], registry=self.registry)
        self._rejected = Counter("fersynth_images_rejected", "Images a stage refused, by reason",
                                 ["stage", "reason"], registry=self.registry)
        self._seconds = Histogram("fersynth_seconds_per_image", "Wall time per image", ["stage"],
                                  registry=self.registry,
                                  buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self._duration = Gauge("fersynth_stage_duration_seconds", "Wall time of the stage run", ["stage"],
                               registry=self.registry)
        self._finished = Gauge("fersynth_stage_last_success_timestamp_seconds",
                               "Unix time the stage last finished", ["stage"], registry=self.registry)
        self._started = time.perf_counter()
        self.counts: TallyCounter[str] = TallyCounter()
        self.rejections: TallyCounter[str] = TallyCounter()
        self.problems: list[str] = []
        self.timings: dict[str, float] = {}

    def seen(self, n: int = 1) -> None:
        self._in.labels(self.stage).inc(n)
        self.counts["in"] += n

    def produced(self, n: int = 1, seconds_each: float | None = None) -> None:
        self._out.labels(self.stage).inc(n)
        self.counts["out"] += n
        if seconds_each is not None:
            self.observe_seconds(n, seconds_each)

    def observe_seconds(self, n: int, seconds_each: float) -> None:
        """`n` images that took `seconds_each` (e.g. one training epoch over n images)."""
        histogram = self._seconds.labels(self.stage)
        for _ in range(n):
            histogram.observe(seconds_each)

    def rejected(self, reason: str, detail: str | None = None) -> None:
        """Count a refused input; `detail` (file and reason) is logged and kept for the report."""
        self._rejected.labels(self.stage, reason).inc()
        self.rejections[reason] += 1
        if detail:
            self.problems.append(detail)
            log.warning("%s: skipped %s", self.stage, detail)

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.spent(name, time.perf_counter() - start)

    def spent(self, name: str, seconds: float) -> None:
        """Add `seconds` to the step `name` (e.g. timed in a worker process)."""
        self.timings[name] = self.timings.get(name, 0.0) + seconds

    def summary(self) -> dict:
        return {**self.counts, "rejected": dict(self.rejections)}

    def push(self) -> None:
        """Mark the stage finished and push to the Pushgateway named by FERSYNTH_PUSHGATEWAY, if any."""
        self._duration.labels(self.stage).set(time.perf_counter() - self._started)
        self._finished.labels(self.stage).set_to_current_time()
        gateway = os.environ.get("FERSYNTH_PUSHGATEWAY")
        if not gateway:
            return
        try:
            push_to_gateway(gateway, job=f"fersynth-{self.stage}", registry=self.registry)
        except OSError as exc:  # metrics must never fail a stage
            log.warning("%s: could not push metrics to %s (%s)", self.stage, gateway, exc)


# Inside the embedded run a stage's output goes to its log file; the run's console shows one bar
# per stage from these event lines instead (pipelines/console.py reads them).
EVENTS_ENV = "FERSYNTH_EVENTS"
EVENT_PREFIX = "@fersynth "


def emit_event(kind: str, **data) -> None:
    """One machine-readable line on stdout for the embedded run's console; nothing otherwise."""
    if os.environ.get(EVENTS_ENV) == "1":
        print(f"{EVENT_PREFIX}{kind} {json.dumps(data, default=str)}", file=sys.stdout, flush=True)


class _EventBar(tqdm):
    """A tqdm whose every refresh is a progress event line instead of a drawn bar."""

    def display(self, msg=None, pos=None):
        emit_event("progress", desc=self.desc, n=self.n, total=self.total, unit=self.unit)
        return True


def progress(items: Iterable[T], desc: str, total: int | None = None, unit: str = "img") -> Iterable[T]:
    """A progress bar on stderr; FERSYNTH_NO_PROGRESS=1 turns it off (tests, log-only runs)."""
    if os.environ.get(EVENTS_ENV) == "1":
        return _EventBar(items, desc=desc, total=total, unit=unit, file=sys.stdout, mininterval=0.5)
    disable = os.environ.get("FERSYNTH_NO_PROGRESS") == "1"
    return tqdm(items, desc=desc, total=total, unit=unit, disable=disable, file=sys.stderr,
                dynamic_ncols=True, mininterval=0.5)


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
