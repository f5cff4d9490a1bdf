"""The evaluate stage: how good is the trained model, on held-out synthetic identities and other sets.

Test sets: the synthetic identities the train stage held out (split.json) and any
`test_sets` given (cross-dataset). Per set: accuracy, macro-F1, per-class precision /
recall / F1, a row-normalised confusion matrix (PNG); for AU models ROC-AUC per AU.
Writes metrics.json, a cross-dataset table (rows: training set, columns: test sets),
report.html (figures inline) and stage.json.
"""
from __future__ import annotations

import base64
import html
import json
import logging
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from components.common.fer_model import load_arrays, load_trained, predict, targets_for, trained_alignment  # noqa: E402
from components.common.imageio import atomic_write_bytes  # noqa: E402
from components.common.telemetry import StageTelemetry  # noqa: E402
from components.common.datasets import DatasetError, Sample, load_dataset  # noqa: E402

from components.common.fer_metrics import roc_auc, summary  # noqa: E402
from components.common.stage_run import StageRun  # noqa: E402
from .params import EvaluateParams  # noqa: E402

STAGE = "evaluate"
log = logging.getLogger("fersynth.evaluate")


def confusion_png(matrix: np.ndarray, classes: list[str], title: str, path: Path) -> None:
    rows = matrix.sum(1, keepdims=True)
    normalised = np.divide(matrix, rows, out=np.zeros_like(matrix, dtype=float), where=rows > 0)
    fig, ax = plt.subplots(figsize=(6, 5))
    im = ax.imshow(normalised, vmin=0, vmax=1, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, f"{normalised[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if normalised[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.colorbar(im)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def align_photos(samples: list[Sample], alignment: dict, device: str) -> tuple[list[Sample], list[str]]:
    """Full photos -> crops aligned as the model's training faces, by the function the serving client uses."""
    from components.common.faces import FaceDetector, align_most_confident
    from components.common.imageio import ImageError

    if all(s.aligned for s in samples):
        return samples, []
    detector = FaceDetector(device=device)
    out, problems = [], []
    for sample in samples:
        if sample.aligned:
            out.append(sample)
            continue
        try:
            aligned, _, _ = align_most_confident(detector, sample.image(), alignment["size"], alignment["padding"])
        except (ImageError, OSError, ValueError) as exc:
            problems.append(f"{sample.path}: {exc}")
            continue
        out.append(Sample(sample.label, sample.group, sample.dataset, sample.path, pixels=aligned.crop))
    return out, problems


def evaluate_set(model, state, spec, samples: list[Sample], params: EvaluateParams,
                 telemetry: StageTelemetry | None = None, model_dir: Path | str = "model") -> dict:
    telemetry = telemetry or StageTelemetry(STAGE)
    trained_with = json.loads(state["params"])
    if state["task"] == "emotion":
        samples = [s for s in samples if s.label in state["classes"]]
    telemetry.seen(len(samples))
    alignment = trained_alignment(state, model_dir)
    samples, no_face = align_photos(samples, alignment, params.device)
    for detail in no_face:
        telemetry.rejected("no_face", detail)
    arrays, kept, problems = load_arrays(samples, spec)
    for detail in problems:
        telemetry.rejected("unreadable", detail)
    problems = no_face + problems
    samples = [samples[i] for i in kept]
    if not samples:
        raise ValueError("no usable test images")
    t0 = time.perf_counter()
    logits = predict(model, arrays, torch.device(params.device), params.batch_size)
    telemetry.produced(len(samples), (time.perf_counter() - t0) / len(samples))
    targets = targets_for(samples, state["task"], state.get("classes", []), trained_with.get("au_units", []),
                          trained_with.get("au_threshold", 0.0))
    if state["task"] == "emotion":
        result = summary(targets, logits.argmax(1), state["classes"])
    else:
        aucs = {f"AU{a}": roc_auc(targets[:, j], logits[:, j]) for j, a in enumerate(state["au_units"])}
        valid = [v for v in aucs.values() if v is not None]
        result = {"roc_auc": aucs, "mean_auc": float(np.mean(valid)) if valid else None, "n": len(samples)}
    result["problems"] = problems[:100]
    return result


def _img(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def run(params: EvaluateParams, in_dir: str | Path, out_dir: str | Path, model_dir: str | Path | None = None) -> dict:
    in_dir, out = Path(in_dir), Path(out_dir)
    model_dir = Path(model_dir or params.model_dir or "")
    if not (model_dir / "model.pt").is_file():
        raise ValueError(f"{model_dir}: no model.pt (give --model-dir, the train stage's output)")
    out.mkdir(parents=True, exist_ok=True)
    stage = StageRun(STAGE, params, out)
    telemetry = stage.telemetry
    model, state, spec = load_trained(model_dir, params.device)
    split = json.loads((model_dir / "split.json").read_text())
    held_out = set(split["test_groups"])
    synthetic = [s for s in load_dataset(f"fersynth:{in_dir}").samples if s.group in held_out]
    sets = {"synthetic held-out": synthetic}
    unreadable = {}
    for spec_text in params.test_sets:
        try:
            sets[spec_text] = load_dataset(spec_text).samples
        except DatasetError as exc:  # one missing test set must not cost the others
            log.warning("evaluate: test set %s skipped: %s", spec_text, exc)
            telemetry.rejected("test_set_unreadable", str(exc))
            sets[spec_text], unreadable[spec_text] = [], str(exc)
    results, figures = {}, {}
    for name, samples in sets.items():
        if not samples:
            results[name] = {"error": unreadable.get(name, "no samples")}
            continue
        results[name] = evaluate_set(model, state, spec, samples, params, telemetry, model_dir)
        if "confusion" in results[name]:
            path = out / f"confusion_{len(figures)}.png"
            confusion_png(np.array(results[name]["confusion"]), state["classes"], name, path)
            figures[name] = path
    key = "accuracy" if state["task"] == "emotion" else "mean_auc"
    training_set = f"{Path(in_dir).name} ({split['train_samples']} images, {state['model']})"
    cross = {"rows": [training_set], "columns": list(results),
             "values": [[results[n].get(key) for n in results]], "metric": key}
    atomic_write_bytes(out / "metrics.json", json.dumps({"sets": results, "cross_dataset": cross,
                                                          "classes": state["classes"]}, indent=2).encode())
    rows = "".join(f"<tr><td>{html.escape(n)}</td><td>{r.get('n', '')}</td><td>{r.get(key, float('nan')):.3f}</td>"
                   f"<td>{r.get('macro_f1', float('nan')):.3f}</td></tr>" if "error" not in r else
                   f"<tr><td>{html.escape(n)}</td><td colspan=\"3\">skipped: {html.escape(r['error'])}</td></tr>"
                   for n, r in results.items())
    per_class = ""
    for name, r in results.items():
        if "per_class" in r:
            per_class += f"<h3>{html.escape(name)}</h3><table><tr><th>class</th><th>precision</th><th>recall</th>" \
                         "<th>F1</th><th>support</th></tr>" + "".join(
                f"<tr><td>{c}</td><td>{v['precision']:.3f}</td><td>{v['recall']:.3f}</td><td>{v['f1']:.3f}</td>"
                f"<td>{int(v['support'])}</td></tr>" for c, v in r["per_class"].items()) + "</table>"
            per_class += f'<img src="{_img(figures[name])}" alt="confusion matrix">'
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>fersynth evaluation</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 8px}}</style></head><body><h1>Evaluation: {html.escape(state['model'])}</h1>
<p>Trained on {html.escape(training_set)}; best validation epoch {state.get('epoch')}.</p>
<table><tr><th>test set</th><th>images</th><th>{key}</th><th>macro-F1</th></tr>{rows}</table>{per_class}
</body></html>"""
    (out / "report.html").write_text(page, encoding="utf-8")
    headline = results["synthetic held-out"]
    counts = {"sets": {n: {k: r.get(k) for k in ("n", "accuracy", "macro_f1", "mean_auc")} for n, r in results.items()}}
    stage.finish(counts, report="report.html", headline={k: headline.get(k) for k in (key, "macro_f1")})
    return counts
