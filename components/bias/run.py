"""The bias stage: a bias report for any face dataset (synthetic or real).

- class balance (labels), per-identity balance (images and emotions per identity);
- skin tone of every image: ITA in CIELAB on cheek and forehead patches (skin_tone.py);
- per-group counts, and per-group accuracy of a trained model when one is given, where groups are
  the ITA categories and every attribute column of an optional CSV (per identity or per image).
`fersynth bias DIR` takes a fersynth dataset, an ImageFolder tree or FORMAT:PATH (rafdb:..., ...).
Output: bias.json, bias.html (plots), skin_tone.csv.
"""
from __future__ import annotations

import csv
import io
import json
import time
from collections import Counter
from pathlib import Path

import numpy as np

from components.common import storage
from components.common.imageio import ImageError, atomic_write_bytes
from components.common.telemetry import progress
from components.common.datasets import READERS, Sample, dataset_alignment, load_dataset
from components.common.stage_run import StageRun

from .params import BiasParams
from .report import write_report
from .skin_tone import category, ita

STAGE = "bias"
ALIGNED_FORMATS = {"fersynth", "rafdb", "fer2013"}


def dataset_spec(source: str | Path) -> str:
    """FORMAT:PATH for a directory (fersynth when it has a manifest, else an ImageFolder tree)."""
    text = str(source)
    fmt, sep, _ = text.partition(":")
    if sep and fmt in READERS:
        return text
    local = storage.local_path(text, download=True) if storage.parse_uri(text).scheme == "s3" else Path(text)
    return f"fersynth:{local}" if (local / "manifest.csv").is_file() else f"folder:{local}"


def read_attributes(uri: str | None) -> tuple[dict[str, dict[str, str]], str, list[str]]:
    """({key: {attribute: value}}, key column 'identity' or 'image', attribute names)."""
    if not uri:
        return {}, "identity", []
    try:
        text = storage.read_bytes(uri).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(f"{uri}: attributes CSV is not UTF-8 text") from None
    reader = csv.DictReader(io.StringIO(text))
    columns = reader.fieldnames or []
    key = next((c for c in ("identity", "image") if c in columns), None)
    if key is None:
        raise ValueError(f"{uri}: attributes CSV needs an 'identity' or 'image' column (has {columns})")
    names = [c for c in columns if c != key]
    if not names:
        raise ValueError(f"{uri}: attributes CSV has no attribute columns besides {key!r}")
    table = {}
    for line, row in enumerate(reader, start=2):
        if not row.get(key):
            raise ValueError(f"{uri}, line {line}: empty {key!r}")
        table[row[key]] = {n: (row.get(n) or "").strip() or "unknown" for n in names}
    return table, key, names


def manifest_identities(spec_text: str) -> dict[str, str]:
    """Image file name -> the manifest's identity, for fersynth datasets."""
    fmt, _, path = spec_text.partition(":")
    if fmt != "fersynth":
        return {}
    from components.common.manifest import read_manifest

    return {Path(r["path"]).name: str(r["identity"]) for r in read_manifest(path) if r.get("identity")}


def lookup_keys(sample: Sample, key: str, identities: dict[str, str]) -> list[str]:
    """The values an attributes row may use for this sample: image name, or identity / subject / seed."""
    name = sample.path.name if sample.path else ""
    if key == "image":
        return [name]
    return [k for k in (identities.get(name), sample.group, sample.group.partition(":")[2]) if k]


def face_crop(sample: Sample, aligned: bool, detector) -> np.ndarray:
    """The sample's face as an aligned crop: the image itself, or detected and aligned with no margin."""
    image = sample.image()
    if aligned:
        return image
    from components.common.faces import align_most_confident

    try:
        return align_most_confident(detector, image, 112, 0.0)[0].crop
    except ValueError as exc:
        raise ValueError(f"{sample.path}: {exc}") from None


def model_predictions(params: BiasParams, samples: list[Sample], spec_text: str) -> tuple[dict[int, bool], dict]:
    """{sample index: correct} for the samples the model is scored on, and what was scored."""
    import torch

    from components.common.fer_model import load_arrays, load_trained, predict

    model_dir = storage.local_path(params.model_dir, download=True)
    model, state, preprocess_spec = load_trained(model_dir)
    if state["task"] != "emotion":
        return {}, {"note": "per-group accuracy needs an emotion model"}
    scored = [i for i, s in enumerate(samples) if s.label in state["classes"]]
    split_path = model_dir / "split.json"
    held_out = None
    if params.held_out_only and split_path.is_file() and spec_text.startswith("fersynth:"):
        groups = set(json.loads(split_path.read_text())["test_groups"])
        if any(samples[i].group in groups for i in scored):
            held_out = groups
            scored = [i for i in scored if samples[i].group in groups]
    arrays, kept, problems = load_arrays([samples[i] for i in scored], preprocess_spec)
    scored = [scored[k] for k in kept]
    logits = predict(model, arrays, torch.device("cpu"))
    correct = {i: state["classes"][int(p)] == samples[i].label for i, p in zip(scored, logits.argmax(1))}
    return correct, {"model": state["model"], "classes": state["classes"], "scored": len(correct),
                     "held_out_identities_only": held_out is not None, "problems": problems[:100]}


def group_table(values: list[str], correct: dict[int, bool], params: BiasParams, overall: float | None) -> list[dict]:
    rows = []
    for group, n in sorted(Counter(values).items(), key=lambda kv: -kv[1]):
        members = [i for i, v in enumerate(values) if v == group and i in correct]
        accuracy = float(np.mean([correct[i] for i in members])) if members else None
        flagged = (accuracy is not None and overall is not None and len(members) >= params.min_group_size
                   and accuracy < overall - params.accuracy_gap)
        rows.append({"group": group, "images": n, "scored": len(members), "accuracy": accuracy, "flagged": flagged})
    return rows


def measure_skin_tones(samples: list[Sample], aligned: bool, padding: float, problems: list[str],
                       telemetry) -> tuple[list[float | None], list[bool]]:
    """ITA of every sample's face (None where undefined) and whether a face was found at all. `padding`
    is the template margin of already aligned crops (where ITA's cheek and forehead patches lie)."""
    detector = None
    if not aligned:
        from components.common.faces import FaceDetector

        detector = FaceDetector()
    tones: list[float | None] = []
    usable: list[bool] = []
    for sample in progress(samples, desc=STAGE):
        telemetry.seen()
        t0 = time.perf_counter()
        try:
            tones.append(ita(face_crop(sample, aligned, detector), padding if aligned else 0.0))
            usable.append(True)
            telemetry.produced(1, time.perf_counter() - t0)
        except (ImageError, ValueError) as exc:
            tones.append(None)
            usable.append(False)
            problems.append(str(exc))
            telemetry.rejected("no_face" if "no face" in str(exc) else "unreadable", str(exc))
    return tones, usable


def balance(samples: list[Sample]) -> dict:
    """Class and identity balance: counts, imbalance ratio, normalised entropy, emotions per identity."""
    labels = Counter(s.label for s in samples)
    per_identity = Counter(s.group for s in samples)
    labels_of: dict[str, set] = {}
    for s in samples:
        labels_of.setdefault(s.group, set()).add(s.label)
    counts = np.array(list(labels.values()), float)
    entropy = float(-(counts / counts.sum() * np.log(counts / counts.sum())).sum() / np.log(len(counts))) \
        if len(counts) > 1 else 0.0
    sizes = list(per_identity.values())
    return {"classes": dict(labels.most_common()),
            "class_imbalance_ratio": float(counts.max() / counts.min()) if len(counts) else None,
            "class_entropy": entropy, "identities": len(per_identity),
            "images_per_identity": {"min": min(sizes), "median": float(np.median(sizes)), "max": max(sizes)},
            "emotions_per_identity": dict(sorted(Counter(len(v) for v in labels_of.values()).items()))}


def write_skin_tone_csv(out: Path, samples: list[Sample], tones: list[float | None], skin: list[str],
                        groups: dict[str, list[str]], names: list[str]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["image", "identity", "label", "ita", "skin_tone", *names])
    for i, s in enumerate(samples):
        writer.writerow([s.path.name if s.path else i, s.group, s.label,
                         "" if tones[i] is None else round(tones[i], 2), skin[i], *[groups[n][i] for n in names]])
    atomic_write_bytes(out / "skin_tone.csv", buf.getvalue().encode())


def run(params: BiasParams, in_dir: str | Path, out_dir: str | Path, model_dir: str | Path | None = None) -> dict:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if model_dir:
        params = params.model_copy(update={"model_dir": str(model_dir)})
    stage = StageRun(STAGE, params, out)
    spec_text = dataset_spec(in_dir)
    identities = manifest_identities(spec_text)
    loaded = load_dataset(spec_text)
    samples, problems = loaded.samples, list(loaded.problems)
    aligned = params.aligned == "yes" or (params.aligned == "auto" and spec_text.partition(":")[0] in ALIGNED_FORMATS)
    fmt, _, path = spec_text.partition(":")
    # the margin adapt cropped fersynth faces with travels in their manifest; other aligned sets have none
    padding = dataset_alignment(Path(path))["padding"] if fmt == "fersynth" else 0.0
    tones, usable = measure_skin_tones(samples, aligned, padding, problems, stage.telemetry)
    skin = [category(t) if ok else "unknown (no face)" for t, ok in zip(tones, usable)]
    attributes, key, names = read_attributes(params.attributes)
    groups = {"skin tone (ITA)": skin}
    keys = [lookup_keys(s, key, identities) for s in samples] if names else []
    for name in names:
        groups[name] = [next((attributes[k][name] for k in ks if k in attributes), "unknown") for ks in keys]
    correct, scoring = ({}, None)
    if params.model_dir:
        with stage.telemetry.timed("model"):
            correct, scoring = model_predictions(params, samples, spec_text)
    overall = float(np.mean(list(correct.values()))) if correct else None
    ita_values = [t for t in tones if t is not None]
    summary = {
        "dataset": spec_text, "images": len(samples), **balance(samples),
        "ita": {"median": float(np.median(ita_values)) if ita_values else None, "measured": len(ita_values),
                "undefined": sum(t is None and ok for t, ok in zip(tones, usable))},
        "groups": {name: group_table(values, correct, params, overall) for name, values in groups.items()},
        "overall_accuracy": overall, "scoring": scoring, "attributes": params.attributes,
        "images_without_attributes": sum(not any(k in attributes for k in ks) for ks in keys),
        "problems": len(problems),
    }
    write_skin_tone_csv(out, samples, tones, skin, groups, names)
    atomic_write_bytes(out / "bias.json", json.dumps({**summary, "problem_list": problems[:1000]}, indent=2).encode())
    with stage.telemetry.timed("report"):
        write_report(out / "bias.html", summary, Counter(s.label for s in samples), Counter(s.group for s in samples),
                     ita_values)
    counts = {"images": len(samples), "identities": summary["identities"], "overall_accuracy": overall,
              "flagged_groups": sum(r["flagged"] for rows in summary["groups"].values() for r in rows),
              "problems": len(problems)}
    stage.finish(counts, report="bias.html")
    return counts
