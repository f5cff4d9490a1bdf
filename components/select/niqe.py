"""NIQE (Mittal, Soundararajan and Bovik 2013) with a pristine model fitted on the run's own reference images.

Each image is cut into patches (at full and half size) of its MSCN map; each patch gives
the 36 BRISQUE-style features (AGGD fits of MSCN and neighbour products at two scales).
The pristine model is a multivariate Gaussian over the features of the sharpest
reference patches (local contrast above `sharpness` x the image's sharpest patch); an
image's NIQE is the distance between that Gaussian and the one fitted to its own patches:
sqrt((mu_p - mu_i)^T ((S_p + S_i) / 2)^+ (mu_p - mu_i)). Lower is closer to the references.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .brisque import coefficient_features, mscn_and_sigma, to_grey


def _patches(x: np.ndarray, size: int) -> np.ndarray:
    rows, cols = x.shape[0] // size, x.shape[1] // size
    x = x[:rows * size, :cols * size]
    return x.reshape(rows, size, cols, size).swapaxes(1, 2).reshape(rows * cols, size, size)


def patch_features(image: np.ndarray, patch: int) -> tuple[np.ndarray, np.ndarray]:
    """(n_patches, 36) features and (n_patches,) sharpness of one image."""
    grey = to_grey(image).astype(np.float32)
    if min(grey.shape) < 2 * patch:
        raise ValueError(f"image {grey.shape} is smaller than two {patch}px patches")
    m1, sigma = mscn_and_sigma(grey)
    half = cv2.resize(grey, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_CUBIC)
    m2, _ = mscn_and_sigma(half)
    p1, p2 = _patches(m1, patch), _patches(m2, patch // 2)
    n = min(len(p1), len(p2))
    feats = np.hstack([coefficient_features(p1[:n]), coefficient_features(p2[:n])])
    sharp = _patches(sigma, patch)[:n].mean(axis=(1, 2))
    return feats, sharp


@dataclass(frozen=True)
class PristineModel:
    mean: np.ndarray
    cov: np.ndarray
    patch: int
    images: int
    patches: int

    def save(self, path: str | Path) -> None:
        np.savez(path, mean=self.mean, cov=self.cov, patch=self.patch, images=self.images, patches=self.patches)

    @classmethod
    def load(cls, path: str | Path) -> "PristineModel":
        with np.load(path, allow_pickle=False) as data:
            return cls(data["mean"], data["cov"], int(data["patch"]), int(data["images"]), int(data["patches"]))


def fit_pristine(images: list[np.ndarray], patch: int = 32, sharpness: float = 0.75) -> PristineModel:
    selected = []
    for image in images:
        feats, sharp = patch_features(image, patch)
        keep = sharp > sharpness * sharp.max() if sharp.max() > 0 else np.ones(len(sharp), bool)
        selected.append(feats[keep])
    feats = np.vstack(selected)
    if len(feats) < 2:
        raise ValueError("too few sharp reference patches to fit a NIQE model")
    return PristineModel(feats.mean(0), np.cov(feats, rowvar=False), patch, len(images), len(feats))


def niqe(image: np.ndarray, model: PristineModel) -> float:
    feats, _ = patch_features(image, model.patch)
    feats = feats[np.isfinite(feats).all(1)]
    mean = feats.mean(0)
    cov = np.cov(feats, rowvar=False) if len(feats) > 1 else np.zeros_like(model.cov)
    diff = model.mean - mean
    return float(np.sqrt(max(diff @ np.linalg.pinv((model.cov + cov) / 2) @ diff, 0.0)))
