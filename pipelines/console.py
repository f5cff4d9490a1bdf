"""The embedded run's console: one progress bar and one result line per stage, logs to files.

KFP's local runner prints everything a stage writes (executor JSON, artifact dicts, per-image
warnings) to this process's stdout. During a run `RunConsole` stands in for stdout: it sends each
stage's lines to <run>/logs/<stage>.log and shows the user only
- a progress bar per stage, driven by the stage's progress events (telemetry.emit_event),
- one result line per stage (from its stage.json): what went in and out, what was refused, seconds,
- on failure, the stage, its last error line and the log's path.
With `verbose` every line is also passed through.
"""
from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
from pathlib import Path

from tqdm import tqdm

from components.common.telemetry import EVENT_PREFIX, EVENTS_ENV

ANSI = re.compile(r"\x1b\[[0-9;]*m")
TASK_STARTED = re.compile(r"Executing task '?([\w-]+)'?")
ERROR_LINE = re.compile(r"^[\w.]+(?:Error|Exception): ")  # a traceback's last line

# What each stage's result line says, from its stage.json counts (missing keys fall back to a list).
RESULT_FORMATS = {
    "identity": "{identities} identities of {planned} planned",
    "expression": "{identities_in} identities -> {images} images",
    "adapt": "{images_in} -> {images} images",
    "select": "{images_in} -> {kept} images kept",
    "annotate": "{images} images labelled, {disagreements} label disagreements",
    "privacy": "{identities} identities, {flagged} closer than {threshold} to one of {references} real faces, "
               "{dropped_identities} dropped",
    "train": "{train_samples} train / {val_samples} val images, {epochs_run} epochs, "
             "train loss {train_loss:.3f} (chance {chance_loss:.3f})",
    "evaluate": lambda counts: " · ".join(
        f"{name.rstrip(':')}: accuracy {r['accuracy']:.3f}, macro-F1 {r['macro_f1']:.3f} (n {r['n']})"
        for name, r in counts["sets"].items()),
    "bias": "{images} images, accuracy {overall_accuracy:.3f}, {flagged_groups} groups flagged",
    "export": "ONNX {onnx_bytes} bytes, parity {parity_max_abs_diff:.1e}",
}


def stage_result(stage: str, counts: dict) -> str:
    """What a stage made of its input, in its own words ('1631 -> 628 images kept')."""
    try:
        shown = RESULT_FORMATS[stage]
        return shown(counts) if callable(shown) else shown.format_map(counts)
    except (KeyError, ValueError, TypeError, IndexError):
        return ", ".join(f"{k} {v}" for k, v in counts.items() if isinstance(v, (int, float)) and not
                         isinstance(v, bool))


def result_line(stage: str, info: dict) -> str:
    """'select     1631 -> 628 images kept · refused: not_in_top_k 990 · 64.1 s'"""
    counts = info.get("counts", {})
    parts = [f"{stage:<10} {stage_result(stage, counts)}"]
    refused = counts.get("rejected") or {}
    if isinstance(refused, dict) and refused:
        parts.append("refused: " + ", ".join(f"{reason} {n}" for reason, n in
                                             sorted(refused.items(), key=lambda kv: -kv[1])))
    seconds = info.get("timings_s", {}).get("total")
    if info.get("cached"):
        parts.append("reused from an earlier run")
    elif seconds is not None:
        parts.append(f"{seconds:.1f} s")
    return " · ".join(parts)


class RunConsole:
    """A stand-in for sys.stdout while the KFP local runner executes the pipeline. Thread-safe: the
    runner executes a ParallelFor's tasks (the shards) in threads that print here at once; one task's
    start closed the stage's log file under another's write ("I/O operation on closed file")."""

    def __init__(self, run_dir: Path, task_stages: dict[str, str], verbose: bool = False, out=None):
        self.logs = run_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.task_stages = task_stages  # KFP task name -> stage name
        self.verbose = verbose
        self.out = out or sys.stdout
        self.stage: str | None = None
        self.log_file = None
        self.bar: tqdm | None = None
        self.errors: dict[str, str] = {}  # stage -> its last error line
        self._pending = ""
        self._lock = threading.RLock()  # write, the logging filter and the stage switches, one at a time

    # -- file protocol, so that print() and logging handlers can write here --
    def write(self, text: str) -> int:
        with self._lock:
            self._pending += text
            *lines, self._pending = self._pending.split("\n")
            for line in lines:
                self._line(line)
        return len(text)

    def flush(self) -> None:
        with self._lock:
            if self.log_file:
                self.log_file.flush()

    def isatty(self) -> bool:
        return False

    # -- context: swap stdout and switch the stages' event lines on --
    def __enter__(self) -> "RunConsole":
        self._saved = (sys.stdout, os.environ.get(EVENTS_ENV))
        os.environ[EVENTS_ENV] = "1"
        sys.stdout = self
        for handler in logging.getLogger().handlers:
            handler.addFilter(self._kfp_record)
        return self

    def __exit__(self, *exc) -> None:
        with self._lock:
            if self._pending:
                self._line(self._pending)
                self._pending = ""
            self._close_stage()
        sys.stdout, events = self._saved
        for handler in logging.getLogger().handlers:
            handler.removeFilter(self._kfp_record)
        if events is None:
            os.environ.pop(EVENTS_ENV, None)
        else:
            os.environ[EVENTS_ENV] = events

    def _kfp_record(self, record: logging.LogRecord) -> bool:
        """The runner's own log records (workspace set-up and clean-up) belong in the log, not the console."""
        if self.verbose or f"{os.sep}kfp{os.sep}" not in record.pathname:
            return True
        with self._lock:
            self._line(record.getMessage())
        return False

    def failure(self, stage: str | None = None) -> str:
        """'train failed: ValueError: ... (log: <run>/logs/train.log)' for the stage that failed."""
        stage = stage or self.stage or "run"
        reason = self.errors.get(stage, "see the log")
        return f"{stage} failed: {reason} (log: {self.logs / f'{stage}.log'})"

    # -- lines --
    def _line(self, raw: str) -> None:
        line = ANSI.sub("", raw)
        body = line.strip()
        started = TASK_STARTED.search(body)
        if started:
            self._open_stage(self.task_stages.get(started.group(1), started.group(1)))
        if body.startswith(EVENT_PREFIX):
            self._event(body[len(EVENT_PREFIX):])
            return
        if self.log_file:
            self.log_file.write(line + "\n")
        if self.stage and ERROR_LINE.match(body):
            self.errors[self.stage] = body
        if self.verbose:
            self._say(raw)

    def _event(self, text: str) -> None:
        kind, _, payload = text.partition(" ")
        data = json.loads(payload or "{}")
        if kind == "progress":
            self._progress(data)
        elif kind == "finished":
            info = json.loads((Path(data["dataset"]) / "stage.json").read_text())
            info["cached"] = data.get("cached", False)
            self._close_bar()
            self._say(result_line(data["stage"], info))

    def _progress(self, data: dict) -> None:
        if self.bar is None:
            self.bar = tqdm(total=data.get("total"), desc=self.stage, unit=data.get("unit") or "it",
                            file=sys.stderr, dynamic_ncols=True, mininterval=0.5, disable=None, leave=False)
        desc = data.get("desc") or self.stage
        self.bar.set_description(desc if desc.startswith(self.stage or "") else f"{self.stage}: {desc}",
                                 refresh=False)
        self.bar.total = data.get("total")
        self.bar.n = data.get("n", 0)
        self.bar.refresh()

    def _open_stage(self, stage: str) -> None:
        if stage == self.stage and self.log_file:  # another shard of the stage: the same log
            return
        self._close_stage()
        self.stage = stage
        self.log_file = (self.logs / f"{stage}.log").open("a", encoding="utf-8")

    def _close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def _close_stage(self) -> None:
        self._close_bar()
        if self.log_file:
            self.log_file.close()
            self.log_file = None

    def _say(self, text: str) -> None:
        print(text, file=self.out, flush=True)


def headline(summary: dict) -> str:
    """The run's last words on the console: where the results are and what they say."""
    h = summary.get("headline", {})
    lines = [f"run finished in {summary['wall_s']:.0f} s: {summary['run_dir']}"]
    lines.append(f"  data      {h.get('identities')} identities, {h.get('images_made')} images made, "
                 f"{h.get('images_kept')} kept, {h.get('train_images')} trained on")
    if h.get("held_out_accuracy") is not None:
        lines.append(f"  held-out  accuracy {h['held_out_accuracy']:.3f}, macro-F1 {h['held_out_macro_f1']:.3f} "
                     "(synthetic identities never trained on)")
    for name, accuracy in (h.get("real_test_accuracy") or {}).items():
        if accuracy is not None:
            lines.append(f"  real      {name} accuracy {accuracy:.3f}")
    if h.get("fid_kept") is not None:
        lines.append(f"  quality   FID {h['fid_kept']:.1f}, KID {h['kid_kept']:.4f} (kept images vs references)")
    lines.append(f"  report    {Path(summary['run_dir']) / summary['report']}")
    return "\n".join(lines)
