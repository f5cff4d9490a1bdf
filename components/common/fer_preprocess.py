"""The one preprocessing of FER model inputs, shared by training, evaluation, export and serving.

An aligned face crop (RGB uint8, any size) is resized to `size` (area when shrinking),
optionally turned grey, scaled to [0, 1] and normalised per channel. The spec travels with
the model (checkpoint and ONNX metadata), so serving cannot drift from training.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class PreprocessSpec:
    size: int
    grey: bool
    mean: tuple[float, ...]
    std: tuple[float, ...]
    # Per-image standardisation (zero mean, unit variance per channel) instead of the fixed mean/std:
    # the model then sees the same input whatever the photo's exposure and contrast.
    standardise: bool = False
    # Local histogram equalisation (CLAHE) of the face's lightness before scaling: a soft, low-contrast
    # face and a sharp studio photo reach the network with the same local contrast.
    equalise: bool = False

    @property
    def channels(self) -> int:
        return 1 if self.grey else 3

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | dict) -> "PreprocessSpec":
        data = json.loads(text) if isinstance(text, str) else dict(text)
        return cls(int(data["size"]), bool(data["grey"]), tuple(data["mean"]), tuple(data["std"]),
                   bool(data.get("standardise", False)),  # older models: the fixed mean/std
                   bool(data.get("equalise", False)))


# The input each FER network is trained on by default (size, grey, mean, std).
DEFAULT_SPECS = {
    "compact_cnn": PreprocessSpec(64, True, (0.5,), (0.5,)),
    "simple_cnn": PreprocessSpec(64, True, (0.5,), (0.5,)),
    "resnet18": PreprocessSpec(112, False, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}


def equalise_lightness(image: np.ndarray) -> np.ndarray:
    """CLAHE on a uint8 grey image, or on the L channel of an RGB one (hue and saturation kept)."""
    clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(4, 4))  # 4x4 tiles: eyes, brows, mouth apart at 64 px
    if image.ndim == 2:
        return clahe.apply(image)
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)
    lab[..., 0] = clahe.apply(lab[..., 0])
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)


def preprocess(images: list[np.ndarray], spec: PreprocessSpec) -> np.ndarray:
    """(N, C, size, size) float32 batch from RGB (or grey) uint8 face crops."""
    out = np.empty((len(images), spec.channels, spec.size, spec.size), np.float32)
    mean = np.asarray(spec.mean, np.float32).reshape(-1, 1, 1)
    std = np.asarray(spec.std, np.float32).reshape(-1, 1, 1)
    for i, image in enumerate(images):
        if image.ndim == 3 and image.shape[2] == 4:
            image = image[..., :3]
        interp = cv2.INTER_AREA if image.shape[0] > spec.size else cv2.INTER_LINEAR
        x = cv2.resize(image, (spec.size, spec.size), interpolation=interp)
        if spec.grey:
            x = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY) if x.ndim == 3 else x
        else:
            x = np.repeat(x[..., None], 3, axis=2) if x.ndim == 2 else x
        if spec.equalise:
            x = equalise_lightness(x)
        x = x[None] if spec.grey else x.transpose(2, 0, 1)
        x = x.astype(np.float32) / 255.0
        if spec.standardise:
            centred = x - x.mean(axis=(1, 2), keepdims=True)
            out[i] = centred / np.maximum(centred.std(axis=(1, 2), keepdims=True), 1e-3)
        else:
            out[i] = (x - mean) / std
    return out
