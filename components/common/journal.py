"""Crash-safe progress of a stage: an append-only journal in the output directory.

Each finished image appends one JSON line after its files were renamed into place,
so after a crash the re-run skips exactly what is finished and redoes nothing else.
The first line records a fingerprint of the parameters: re-running into the same
directory with different parameters is refused instead of mixing two runs. An
exclusive lock keeps two processes from writing the same directory at once.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
from pathlib import Path
from typing import Any

JOURNAL_NAME = ".journal.jsonl"
LOCK_NAME = ".lock"


class JournalError(RuntimeError):
    pass


def fingerprint(params: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:16]


class Journal:
    def __init__(self, out_dir: str | Path, params: dict[str, Any]):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.out_dir / JOURNAL_NAME
        self._lock_fh = open(self.out_dir / LOCK_NAME, "w")
        try:
            fcntl.flock(self._lock_fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_fh.close()
            raise JournalError(f"{self.out_dir}: another fersynth process is writing this directory") from None
        self.done: dict[str, dict] = {}
        self.rejected: dict[str, dict] = {}
        self._load(fingerprint(params))
        self._fh = open(self.path, "a", encoding="utf-8")
        if self.path.stat().st_size == 0:
            self._append({"fingerprint": fingerprint(params)})

    def _load(self, expected: str) -> None:
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
        for number, line in enumerate(lines, start=1):
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                if number == len(lines):  # a torn last line from a crash: ignore it
                    continue
                raise JournalError(f"{self.path}:{number}: corrupt journal line") from None
            if "fingerprint" in entry:
                if entry["fingerprint"] != expected:
                    raise JournalError(f"{self.out_dir}: holds a run with different parameters; "
                                       "use another output directory or delete this one")
            elif entry.get("status") == "ok":
                self.done[entry["key"]] = entry["row"]
            elif entry.get("status") == "rejected":
                self.rejected[entry["key"]] = entry
        if lines and not lines[-1].endswith("}"):
            # Drop a torn tail so the next append starts on a clean line.
            with open(self.path, "w", encoding="utf-8") as fh:
                fh.write("\n".join(lines[:-1]) + ("\n" if len(lines) > 1 else ""))

    def _append(self, entry: dict) -> None:
        # Key order kept as given: a row read back from the journal (a resumed or merged run) must
        # write the same manifest bytes as the row held in memory.
        self._fh.write(json.dumps(entry) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def finished(self, key: str) -> bool:
        return key in self.done or key in self.rejected

    def record_ok(self, key: str, row: dict) -> None:
        self.done[key] = row
        self._append({"status": "ok", "key": key, "row": row})

    def record_rejected(self, key: str, reason: str, detail: str) -> None:
        entry = {"status": "rejected", "key": key, "reason": reason, "detail": detail}
        self.rejected[key] = entry
        self._append(entry)

    def rejection_counts(self) -> dict[str, int]:
        """How many inputs were refused, by reason."""
        counts: dict[str, int] = {}
        for entry in self.rejected.values():
            counts[entry["reason"]] = counts.get(entry["reason"], 0) + 1
        return counts

    def close(self) -> None:
        self._fh.close()
        fcntl.flock(self._lock_fh, fcntl.LOCK_UN)
        self._lock_fh.close()

    def __enter__(self) -> "Journal":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
