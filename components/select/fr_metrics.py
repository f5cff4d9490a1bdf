"""Full-reference metrics of an image against its source: PSNR, SSIM, RMSE, SAM, UQI.

SSIM follows Wang et al. 2004 with a 7x7 uniform window, K1 = 0.01, K2 = 0.03, sample
covariances and a border of 3 px left out (the common scikit-image convention), averaged
over RGB channels. UQI (Wang and Bovik 2002) is SSIM without the stabilising constants,
with an 8x8 window. SAM is the mean angle, in degrees, between RGB vectors.
"""
from __future__ import annotations

import cv2
import numpy as np


def _box(x: np.ndarray, size: int) -> np.ndarray:
    return cv2.boxFilter(x, -1, (size, size), normalize=True, borderType=cv2.BORDER_REFLECT)


def _ssim_map(a: np.ndarray, b: np.ndarray, size: int, c1: float, c2: float) -> np.ndarray:
    n = size * size
    cov_norm = n / (n - 1)
    mu_a, mu_b = _box(a, size), _box(b, size)
    var_a = cov_norm * (_box(a * a, size) - mu_a * mu_a)
    var_b = cov_norm * (_box(b * b, size) - mu_b * mu_b)
    cov = cov_norm * (_box(a * b, size) - mu_a * mu_b)
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2)
    if c1 == 0 and c2 == 0:  # UQI: flat patches (0/0) count as identical
        return np.where(den > 1e-12, num / np.where(den > 1e-12, den, 1.0), 1.0)
    return num / den


def _channels(x: np.ndarray) -> list[np.ndarray]:
    x = x.astype(np.float64)
    return [x] if x.ndim == 2 else [x[..., c] for c in range(x.shape[2])]


def ssim(a: np.ndarray, b: np.ndarray, size: int = 7, data_range: float = 255.0) -> float:
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    pad = (size - 1) // 2
    maps = [_ssim_map(x, y, size, c1, c2)[pad:-pad, pad:-pad] for x, y in zip(_channels(a), _channels(b))]
    return float(np.mean([m.mean() for m in maps]))


def uqi(a: np.ndarray, b: np.ndarray, size: int = 8) -> float:
    pad = size // 2
    maps = [_ssim_map(x, y, size, 0.0, 0.0)[pad:-pad, pad:-pad] for x, y in zip(_channels(a), _channels(b))]
    return float(np.mean([m.mean() for m in maps]))


def rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)))


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    error = rmse(a, b)
    return float("inf") if error == 0 else float(20 * np.log10(data_range / error))


def sam(a: np.ndarray, b: np.ndarray) -> float:
    """Spectral angle mapper: mean angle between the RGB vectors of corresponding pixels, in degrees."""
    x, y = a.reshape(-1, 3).astype(np.float64), b.reshape(-1, 3).astype(np.float64)
    dot = (x * y).sum(1)
    norms = np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1)
    valid = norms > 0
    cos = np.clip(dot[valid] / norms[valid], -1.0, 1.0)
    return float(np.degrees(np.arccos(cos)).mean()) if valid.any() else 0.0


def all_metrics(image: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    if image.shape != reference.shape:
        raise ValueError(f"image {image.shape} and reference {reference.shape} differ in shape")
    if image.ndim == 2:
        image, reference = (np.repeat(x[..., None], 3, axis=2) for x in (image, reference))
    return {"psnr": psnr(image, reference), "ssim": ssim(image, reference), "rmse": rmse(image, reference),
            "sam": sam(image, reference), "uqi": uqi(image, reference)}
