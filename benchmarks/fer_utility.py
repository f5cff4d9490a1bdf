"""What makes a classifier learn from fersynth data: one factor changed at a time against the default.

    .venv/bin/python benchmarks/fer_utility.py --data runs/demo/privacy [--thesis-selected DIR] [--real emopy:]
        [--factors default simple_cnn ...] [--seeds 0 1 2] [--also-held-out OTHER_DATA ...] [--json out.json]

Each row trains the train stage's own code (`components.train.run.run`) on --data with one parameter
changed, then scores the model, as the evaluate stage does, on the synthetic identities held out of
training (macro-F1, accuracy) and on each --real set (accuracy, recall per class). The real sets are
reported, never used to choose anything. `--thesis-selected` (the same run with select's top_k 180 of
every 512, as the thesis keeps) adds the row "thesis_selection"; the identity-count row keeps half of the
identities, and "mesh_warp_only" keeps one editor's edits. Every row is also scored on one common test
set: the held-out identities as mesh_warp edited them. With several --seeds (each seed also draws another
identity split) a second table shows the mean and spread of the held-out macro-F1. Every row also records
the final training loss against ln(classes), the images/s of the training loop, and the seconds it took.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from components.common.manifest import read_manifest, write_manifest  # noqa: E402
from components.evaluate.params import EvaluateParams  # noqa: E402
from components.common.fer_model import load_trained  # noqa: E402
from components.evaluate.run import evaluate_set  # noqa: E402
from components.common.datasets import load_dataset  # noqa: E402
from components.train.params import TrainParams  # noqa: E402
from components.train.run import run as train  # noqa: E402

# name -> (parameter changes, what the row tests)
FACTORS: dict[str, tuple[dict, str]] = {
    "default": ({}, "the demo's train section (pipelines/demo.yaml)"),
    "simple_cnn": ({"model": "simple_cnn"}, "the Grenoble paper's table 1 (+ batch norm), same recipe"),
    "old_recipe": ({"model": "simple_cnn", "batching": "balanced", "augment": "full", "lr": 1e-3},
                   "before this change: simple_cnn, class-balanced batches, full augmentation, lr 1e-3"),
    "identity_batches": ({"batching": "identity"}, "batches of whole identities instead of shuffled ones"),
    "balanced_batches": ({"batching": "balanced"}, "class-balanced sampling instead of shuffled batches"),
    "full_augment": ({"augment": "full"}, "flip + random resized crop + random erasing"),
    "fixed_norm": ({"input_norm": "dataset"}, "the model's fixed mean/std instead of per-image standardisation"),
    "sharpness_augment": ({"augment": "sharpness"}, "flip + each face randomly blurred or sharpened, a little noise"),
    "equalised_input": ({"input_norm": "equalised"}, "local histogram equalisation (CLAHE), then per image"),
    "no_augment": ({"augment": "none"}, "no augmentation"),
    "label_smoothing": ({"label_smoothing": 0.1}, "label smoothing 0.1"),
    "mixup_0.2": ({"mixup": 0.2}, "mixup, shares drawn from Beta(0.2, 0.2)"),
    "mixup_sharpness": ({"mixup": 0.2, "augment": "sharpness"}, "mixup 0.2 and the sharpness augmentation together"),
    "equalised_mixup_sharpness": ({"input_norm": "equalised", "mixup": 0.2, "augment": "sharpness"},
                                  "equalised input, mixup 0.2 and the sharpness augmentation together"),
    "recipe_before": ({"input_norm": "per_image", "mixup": 0.0, "augment": "flip"},
                      "the demo's recipe before equalised input, mixup and the sharpness augmentation"),
    "ema_0.99": ({"ema_decay": 0.99}, "keep a moving average of the weights (decay 0.99 per step)"),
    "ema_0.995": ({"ema_decay": 0.995}, "keep a moving average of the weights (decay 0.995 per step)"),
    "no_mirror_average": ({"mirror_average": False}, "the model answers for the face alone, not averaged with its mirror"),
    "ensemble_2": ({"ensemble": 2}, "two networks (other initialisation and batch order) answering together"),
    "ensemble_3": ({"ensemble": 3}, "three networks (other initialisations and batch orders) answering together"),
    "input_96": ({"image_size": 96}, "96 px input instead of 64"),
    "epochs_15": ({"epochs": 15, "patience": 15}, "half the epochs"),
    "lr_5e-4": ({"lr": 5e-4}, "peak lr 5e-4"),
    "half_identities": ({}, "half of the identities (the data, not a parameter)"),
    "thesis_selection": ({}, "select keeps the best 180 of every 512 (needs --thesis-selected)"),
    "mesh_warp_only": ({}, "only mesh_warp's edits of each identity (the data, not a parameter)"),
}
# The rows' common test set beside each row's own held-out: the held-out identities as mesh_warp edited
# them (an editor filter keeps every identity, and the split is by identity, so the identities match).
COMMON_EDITOR = "mesh_warp"
# The baseline is the demo's own recipe, so the table always speaks of what `fersynth run` trains.
BASE = yaml.safe_load((Path(__file__).resolve().parents[1] / "pipelines" / "demo.yaml").read_text())["train"]


def subset(src: Path, dst: Path, keep) -> Path:
    """A dataset of src's rows that `keep(row)` accepts, its images left where they are."""
    write_manifest(dst, [{**r, "path": str((src / r["path"]).resolve())} for r in read_manifest(src) if keep(r)])
    return dst


def half_of_identities(src: Path, dst: Path) -> Path:
    seeds = sorted({r["seed"] for r in read_manifest(src)})
    keep = set(seeds[::2])
    return subset(src, dst, lambda r: r["seed"] in keep)


def one_editor(src: Path, dst: Path, editor: str = COMMON_EDITOR) -> Path:
    return subset(src, dst, lambda r: r.get("editor") == editor)


def score(model_dir: Path, samples, name: str) -> dict:
    model, state, spec = load_trained(model_dir)
    result = evaluate_set(model, state, spec, samples, EvaluateParams())
    recall = {c: round(v["recall"], 3) for c, v in result.get("per_class", {}).items() if v.get("support")}
    return {"accuracy": round(result["accuracy"], 3), "macro_f1": round(result["macro_f1"], 3), "n": result["n"],
            "recall": recall, "set": name}


def held_out(data: Path, model_dir: Path):
    split = json.loads((model_dir / "split.json").read_text())
    test = set(split["test_groups"])
    return [s for s in load_dataset(f"fersynth:{data}").samples if s.group in test]


def held_out_common(data: Path, model_dir: Path, work: Path):
    """The held-out identities as COMMON_EDITOR edited them, from the full --data whatever the row trained on."""
    return held_out(one_editor(data, work / "common"), model_dir)


def run_factor(name: str, data: Path, thesis_selected: Path | None, real: list[str], work: Path, seed: int = 0,
               also: tuple[Path, ...] = ()) -> dict:
    changes, what = FACTORS[name]
    if name == "thesis_selection":
        if thesis_selected is None:
            return {"factor": name, "what": what, "skipped": "no --thesis-selected dataset"}
        data = thesis_selected
    full = data
    if name == "half_identities":
        data = half_of_identities(data, work / "half")
    if name == "mesh_warp_only":
        data = one_editor(data, work / "one_editor")
    params = TrainParams(**{**BASE, **changes, "seed": seed})
    started = time.perf_counter()
    counts = train(params, data, work / "model")
    seconds = time.perf_counter() - started
    history = [json.loads(line) for path in sorted((work / "model").rglob("history.jsonl"))  # every member's
               for line in path.read_text().splitlines()]
    row = {"factor": name, "what": what, "seed": seed, "train_images": counts["train_samples"], "seconds": round(seconds, 1),
           "images_per_s": round(sum(h["images_per_s"] for h in history) / len(history), 1),
           "train_loss": counts.get("train_loss"), "chance_loss": round(math.log(len(params.classes)), 3),
           "learned": counts.get("learned"),
           "held_out": score(work / "model", held_out(data, work / "model"), "synthetic held-out"),
           "held_out_common": score(work / "model", held_out_common(full, work / "model", work),
                                    f"synthetic held-out, {COMMON_EDITOR}'s edits")}
    row["real"] = [score(work / "model", load_dataset(spec).samples, spec) for spec in real]
    # the same held-out identities in other datasets of the same seeds (e.g. made with other expression options)
    row["held_out_also"] = [score(work / "model", held_out(other, work / "model"), f"held-out of {other}")
                            for other in also]
    return row


def markdown(rows: list[dict]) -> str:
    real_names = [r["set"] for r in rows[0].get("real", [])] if rows else []
    head = ["factor", "train images", "final train loss (ln 7 = 1.946)", "held-out macro-F1", "held-out acc",
            f"held-out {COMMON_EDITOR} macro-F1"]
    head += [f"{r['set']} macro-F1" for r in rows[0].get("held_out_also", [])] if rows else []
    head += [f"{n} acc (happy/surprise/neutral recall)" for n in real_names] + ["train img/s", "s"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r in rows:
        if "skipped" in r:
            lines.append(f"| {r['factor']} | skipped: {r['skipped']} |")
            continue
        cells = [r["factor"], str(r["train_images"]), f"{r['train_loss']:.3f}", f"{r['held_out']['macro_f1']:.3f}",
                 f"{r['held_out']['accuracy']:.3f}", f"{r['held_out_common']['macro_f1']:.3f}"]
        cells += [f"{other['macro_f1']:.3f}" for other in r.get("held_out_also", [])]
        for real in r["real"]:
            rec = real["recall"]
            cells.append(f"{real['accuracy']:.3f} ({rec.get('happy', 0):.2f}/{rec.get('surprise', 0):.2f}/"
                         f"{rec.get('neutral', 0):.2f})")
        cells += [f"{r['images_per_s']:.0f}", f"{r['seconds']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def spread(rows: list[dict]) -> str:
    """Held-out macro-F1 per factor over the seeds: own held-out (mean, sd, each value), then the mean on
    the common test set and on each --also-held-out set."""
    others = [o["set"] for o in rows[0].get("held_out_also", [])] if rows else []
    by_factor: dict[str, list[list[float]]] = {}
    for r in rows:
        if "held_out" in r:
            values = [r["held_out"]["macro_f1"], r["held_out_common"]["macro_f1"]]
            values += [o["macro_f1"] for o in r.get("held_out_also", [])]
            by_factor.setdefault(r["factor"], []).append(values)
    head = ["factor", "held-out macro-F1 mean", "sd", "per seed", f"held-out {COMMON_EDITOR} mean"]
    head += [f"{name} mean" for name in others]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for name, per_seed in by_factor.items():
        columns = list(zip(*per_seed))
        own = columns[0]
        mean = sum(own) / len(own)
        sd = (sum((v - mean) ** 2 for v in own) / max(len(own) - 1, 1)) ** 0.5
        cells = [name, f"{mean:.3f}", f"{sd:.3f}", ", ".join(f"{v:.3f}" for v in own)]
        cells += [f"{sum(c) / len(c):.3f}" for c in columns[1:]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, type=Path, help="labelled fersynth dataset (e.g. a run's privacy/)")
    ap.add_argument("--thesis-selected", type=Path, help="the same run selected as the thesis (top 180 of 512)")
    ap.add_argument("--real", nargs="*", default=["emopy:"], help="real test sets, FORMAT:PATH (reported only)")
    ap.add_argument("--factors", nargs="*", default=list(FACTORS), choices=list(FACTORS))
    ap.add_argument("--seeds", nargs="*", type=int, default=[0], help="training seeds (and identity splits)")
    ap.add_argument("--also-held-out", nargs="*", type=Path, default=[],
                    help="other datasets of the same seeds: each row is also scored on their held-out identities")
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args()
    rows = []
    for name in args.factors:
        for seed in args.seeds:
            with tempfile.TemporaryDirectory() as work:
                rows.append(run_factor(name, args.data, args.thesis_selected, args.real, Path(work), seed,
                                       tuple(args.also_held_out)))
            print(json.dumps(rows[-1]), flush=True)
    print(markdown(rows))
    if len(args.seeds) > 1:
        print(spread(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
