"""Seed lists: what a person saw when reviewing a seed (its emotion and/or action units).

YAML:   seeds: {12: {emotion: happy, aus: [6, 12]}, 40: {aus: {AU1: 0.5, AU2: 0.5}}}
CSV:    seed,emotion,aus        (aus as "6+12", "AU6;AU12" or "AU1:0.5+AU2:0.5")
An AU given without an intensity counts as present at intensity 1.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from components.common import storage
from components.common.facs import EMOTIONS


class SeedListError(ValueError):
    pass


@dataclass(frozen=True)
class SeedLabel:
    emotion: str | None = None
    aus: dict[int, float] = field(default_factory=dict)


def _parse_aus(value, where: str) -> dict[int, float]:
    if value is None or value == "":
        return {}
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, (list, tuple)):
        items = [(v, 1.0) for v in value]
    else:
        items = []
        for part in re.split(r"[+;, ]+", str(value).strip()):
            if part:
                name, _, level = part.partition(":")
                items.append((name, float(level) if level else 1.0))
    out = {}
    for name, level in items:
        text = str(name).upper().removeprefix("AU")
        if not text.isdigit():
            raise SeedListError(f"{where}: bad action unit {name!r} (use e.g. AU12 or 12)")
        try:
            level = float(level)
        except (TypeError, ValueError):
            raise SeedListError(f"{where}: AU{text} intensity {level!r} is not a number") from None
        if not 0 <= level <= 5:
            raise SeedListError(f"{where}: AU{text} intensity {level} outside [0, 5]")
        out[int(text)] = level
    return out


def _label(entry: dict, where: str) -> SeedLabel:
    emotion = entry.get("emotion")
    if emotion in ("", None):
        emotion = None
    elif str(emotion).lower() not in EMOTIONS:
        raise SeedListError(f"{where}: unknown emotion {emotion!r} (known: {', '.join(EMOTIONS)})")
    label = SeedLabel(str(emotion).lower() if emotion else None, _parse_aus(entry.get("aus"), where))
    if label.emotion is None and not label.aus:
        raise SeedListError(f"{where}: neither an emotion nor any AU")
    return label


def _seed(value, where: str) -> int:
    try:
        seed = int(str(value).strip())
    except ValueError:
        raise SeedListError(f"{where}: seed {value!r} is not an integer") from None
    if seed < 0:
        raise SeedListError(f"{where}: seed {seed} is negative")
    return seed


def parse_seed_list(text: str, name: str) -> dict[int, SeedLabel]:
    if name.lower().endswith(".csv"):
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames or "seed" not in reader.fieldnames:
            raise SeedListError(f"{name}: CSV needs a 'seed' column (and 'emotion' and/or 'aus')")
        out = {}
        for line, row in enumerate(reader, start=2):
            where = f"{name}:{line}"
            seed = _seed(row.get("seed"), where)
            if seed in out:
                raise SeedListError(f"{where}: seed {seed} is listed twice")
            out[seed] = _label(row, where)
        return out
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SeedListError(f"{name}: not valid YAML ({exc})") from None
    seeds = data.get("seeds") if isinstance(data, dict) else None
    if not isinstance(seeds, dict):
        raise SeedListError(f"{name}: expected 'seeds:' mapping seed -> {{emotion, aus}}")
    out = {}
    for key, entry in seeds.items():
        where = f"{name}: seed {key}"
        if not isinstance(entry, dict):
            raise SeedListError(f"{where}: expected {{emotion: ..., aus: ...}}, got {entry!r}")
        out[_seed(key, where)] = _label(entry, where)
    return out


def load_seed_list(uri: str) -> dict[int, SeedLabel]:
    try:
        data = storage.read_bytes(uri)
    except storage.StorageError as exc:
        raise SeedListError(f"seed list {uri}: {exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SeedListError(f"{uri}: not a UTF-8 text file") from None
    return parse_seed_list(text, Path(storage.parse_uri(uri).key).name)


def dump_yaml(labels: dict[int, SeedLabel]) -> str:
    seeds = {}
    for seed, label in sorted(labels.items()):
        entry = {}
        if label.emotion:
            entry["emotion"] = label.emotion
        if label.aus:
            entry["aus"] = {f"AU{a}": v for a, v in sorted(label.aus.items())}
        seeds[seed] = entry
    return yaml.safe_dump({"seeds": seeds}, sort_keys=False)
