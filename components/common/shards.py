"""Split a per-image stage over N workers and merge their parts into the dataset one worker makes.

A shard works on a contiguous run of its stage's plan (whole identities, so an identity's frame
and edits stay together) and writes only its images and journal: no manifest, no contact sheet.
The merge copies the parts' files and journal entries into one folder; the stage then runs there
once more, finds every image finished and writes the manifest, sheets and stage.json exactly as an
unsharded run does. Shard boundaries fall on multiples of the stage's batch size, so every image
is computed in the same batch as in one piece: 1 and N shards give the same bytes.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Hashable, Sequence, TypeVar

from .imageio import atomic_write_bytes
from .journal import JOURNAL_NAME, LOCK_NAME
from .manifest import STAGE_NAME, read_stage_info

T = TypeVar("T")
SHARD_FILE = "shard.json"


class ShardError(RuntimeError):
    pass


@dataclass(frozen=True)
class Shard:
    index: int = 0
    count: int = 1

    def __post_init__(self):
        if not (self.count >= 1 and 0 <= self.index < self.count):
            raise ShardError(f"shard {self.index}/{self.count}: needs count >= 1 and 0 <= index < count")

    @classmethod
    def parse(cls, text: str) -> "Shard":
        """'2/4' is the third of four shards."""
        try:
            index, count = (int(part) for part in text.split("/"))
        except ValueError:
            raise ShardError(f"shard {text!r}: expected INDEX/COUNT, e.g. 0/4") from None
        return cls(index, count)

    def take(self, items: Sequence[T], group: Callable[[T], Hashable] = id, align: int = 1) -> list[T]:
        """This shard's part of `items`: whole groups (consecutive items with the same group key),
        in blocks of `align` groups, the blocks split into `count` near-equal contiguous runs."""
        keys = list(dict.fromkeys(group(item) for item in items))
        blocks = -(-len(keys) // max(align, 1))
        first, last = self.index * blocks // self.count, (self.index + 1) * blocks // self.count
        mine = set(keys[first * align:last * align])
        return [item for item in items if group(item) in mine]

    def mark(self, out: Path, counts: dict) -> None:
        """Record in a part's folder which shard it is (the merge checks the set is complete)."""
        (Path(out) / SHARD_FILE).write_text(json.dumps({"index": self.index, "count": self.count, "counts": counts}))


def _journal_lines(part: Path) -> tuple[str, list[str]]:
    lines = (part / JOURNAL_NAME).read_text(encoding="utf-8").splitlines()
    if not lines or "fingerprint" not in json.loads(lines[0]):
        raise ShardError(f"{part}: no journal; not a finished shard")
    return lines[0], [line for line in lines[1:] if line.endswith("}")]


def merge_parts(parts: Sequence[str | Path], out: str | Path) -> int:
    """Copy the shard parts' files and journals into `out`; returns how many journal entries it holds.

    Checks first: every part is a shard of the same plan (same count, same parameters) and every
    index from 0 to count-1 is there exactly once."""
    parts = [Path(p) for p in parts]
    infos = []
    for part in parts:
        if not (part / SHARD_FILE).is_file():
            raise ShardError(f"{part}: not a shard part (no {SHARD_FILE})")
        infos.append(json.loads((part / SHARD_FILE).read_text()))
    count = infos[0]["count"]
    indices = sorted(info["index"] for info in infos)
    if any(info["count"] != count for info in infos) or indices != list(range(count)):
        found = ", ".join(f"{info['index']}/{info['count']}" for info in infos)
        raise ShardError(f"shard parts {found}: need each of 0..{count - 1} of {count} exactly once")
    fingerprints, entries = set(), []
    for part in sorted(parts, key=lambda p: json.loads((p / SHARD_FILE).read_text())["index"]):
        head, lines = _journal_lines(part)
        fingerprints.add(head)
        entries += lines
    if len(fingerprints) != 1:
        raise ShardError(f"shard parts {[str(p) for p in parts]} ran with different parameters or inputs")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    skip = {JOURNAL_NAME, LOCK_NAME, SHARD_FILE, STAGE_NAME}
    for part in parts:
        for path in part.rglob("*"):
            top = path.relative_to(part).parts[0]
            # hidden folders are a stage's own caches (e.g. the GAN's), rebuilt where needed
            if path.is_file() and top not in skip and not top.startswith("."):
                target = out / path.relative_to(part)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
    (out / JOURNAL_NAME).write_text("\n".join([fingerprints.pop(), *entries]) + "\n", encoding="utf-8")
    return len(entries)


def merge_run(run: Callable, parts: Sequence[str | Path]) -> Callable:
    """`run` made into the merge: join `parts` into its output folder, then let the stage run there,
    where it finds every image finished and writes the dataset (manifest, sheets, stage.json)."""
    def merged(params, *paths, **kwargs):
        out = Path(paths[-1])
        merge_parts(parts, out)
        counts = run(params, *paths, **kwargs)
        _add_part_times(out, parts)
        return counts
    return merged


def _add_part_times(out: Path, parts: Sequence[str | Path]) -> None:
    """The merged stage.json's total counts the slowest part too: the stage's time on the critical path."""
    info = read_stage_info(out)
    seconds = [read_stage_info(part)["timings_s"].get("total", 0.0) for part in parts]
    timings = info.setdefault("timings_s", {})
    timings["merge"] = timings.get("total", 0.0)
    timings["parts_max"] = max(seconds)
    timings["total"] = timings["merge"] + timings["parts_max"]
    info["shards"] = {"count": len(parts), "part_seconds": seconds}
    atomic_write_bytes(out / STAGE_NAME, json.dumps(info, indent=2, sort_keys=True).encode("utf-8"))
