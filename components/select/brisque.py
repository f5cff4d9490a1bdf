"""BRISQUE (Mittal, Moorthy and Bovik 2012), batched.

Features: on the grey image and its half-size version, the mean-subtracted
contrast-normalised (MSCN) coefficients and their four neighbour products
(horizontal, vertical, two diagonals) are fitted with asymmetric generalised
Gaussians: [shape, variance] for MSCN and [shape, mean, left var, right var] for each
product -> 18 per scale, 36 in all. The score is the LIVE-trained epsilon-SVR (RBF
kernel) shipped with the `brisque` package, evaluated here in numpy for a whole
batch at once; its feature scaling table is read without running pickle code.
Conventions (grey from Rec.709 luma in [0, 1], 7x7 Gaussian window sigma 7/6 with
zero padding, C = 1/255, bicubic half-size) follow that model's training.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from scipy.special import gamma as gamma_fn

C = 1.0 / 255.0


def _gaussian_window(size: int = 7, sigma: float = 7 / 6) -> np.ndarray:
    y, x = np.indices((size, size)) - size // 2
    w = np.exp(-(x ** 2 + y ** 2) / (2 * sigma ** 2))
    return w / w.sum()


WINDOW = _gaussian_window()
# The window is an outer product, so two 1-D passes (sepFilter2D) give the same result several times faster.
WINDOW_1D = np.sqrt(np.diag(WINDOW)) / np.sqrt(np.diag(WINDOW)).sum()
# AGGD shape from the moment ratio: phi(a) = G(2/a)^2 / (G(1/a) G(3/a)) rises monotonically in a.
_ALPHAS = np.arange(0.05, 10.0, 0.0005)
_PHI = gamma_fn(2 / _ALPHAS) ** 2 / (gamma_fn(1 / _ALPHAS) * gamma_fn(3 / _ALPHAS))


def to_grey(rgb: np.ndarray) -> np.ndarray:
    """Rec.709 luma of an RGB uint8 image, in [0, 1] (as scikit-image's rgb2gray)."""
    if rgb.ndim == 2:
        return rgb.astype(np.float64) / 255.0
    return rgb.astype(np.float64) @ np.array([0.2125, 0.7154, 0.0721]) / 255.0


def mscn(grey: np.ndarray) -> np.ndarray:
    return mscn_and_sigma(grey)[0]


def mscn_and_sigma(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MSCN coefficients and the local standard deviation they were divided by."""
    kernel = WINDOW_1D.astype(grey.dtype)
    mu = cv2.sepFilter2D(grey, -1, kernel, kernel, borderType=cv2.BORDER_CONSTANT)
    second = cv2.sepFilter2D(grey * grey, -1, kernel, kernel, borderType=cv2.BORDER_CONSTANT)
    sigma = np.sqrt(np.abs(mu * mu - second))
    return (grey - mu) / (sigma + grey.dtype.type(C)), sigma


def pair_products(m: np.ndarray) -> list[np.ndarray]:
    return [m, m[..., :, :-1] * m[..., :, 1:], m[..., :-1, :] * m[..., 1:, :],
            m[..., :-1, :-1] * m[..., 1:, 1:], m[..., 1:, :-1] * m[..., :-1, 1:]]


def aggd_fit(x: np.ndarray) -> np.ndarray:
    """Asymmetric generalised Gaussian fit per leading index of x (B, ...) -> (B, 4): shape, mean, var_l, var_r."""
    flat = x.reshape(len(x), -1)
    neg = flat < 0
    sq = flat * flat
    n_left = neg.sum(1)
    n_right = np.maximum(flat.shape[1] - n_left, 1)
    sum_left = np.einsum("ij,ij->i", sq, neg.astype(sq.dtype), dtype=np.float64)
    sum_all = sq.sum(1, dtype=np.float64)
    var_l = sum_left / np.maximum(n_left, 1)
    var_r = (sum_all - sum_left) / n_right
    g = np.sqrt(var_l) / np.maximum(np.sqrt(var_r), 1e-12)
    r_hat = np.abs(flat).mean(1, dtype=np.float64) ** 2 / np.maximum(sum_all / flat.shape[1], 1e-12)
    big_r = r_hat * (g ** 3 + 1) * (g + 1) / (g ** 2 + 1) ** 2
    alpha = np.interp(big_r, _PHI, _ALPHAS)
    const = np.sqrt(gamma_fn(1 / alpha) / gamma_fn(3 / alpha))
    mean = (np.sqrt(var_r) - np.sqrt(var_l)) * const * gamma_fn(2 / alpha) / gamma_fn(1 / alpha)
    return np.stack([alpha, mean, var_l, var_r], axis=1)


def coefficient_features(mscn_stack: np.ndarray) -> np.ndarray:
    """(B, H, W) MSCN maps -> (B, 18): AGGD fits of the MSCN values and their four neighbour products."""
    coeffs = pair_products(mscn_stack)
    first = aggd_fit(coeffs[0])
    out = [first[:, 0], (first[:, 2] + first[:, 3]) / 2]
    for product in coeffs[1:]:
        fit = aggd_fit(product)
        out += [fit[:, 0], fit[:, 1], fit[:, 2], fit[:, 3]]
    return np.stack(out, axis=1)


def scale_features(grey_batch: np.ndarray) -> np.ndarray:
    """(B, H, W) grey images of one size -> (B, 18) features at this scale."""
    # float32 halves memory traffic; sums are accumulated in float64 (agrees with float64 to ~1e-2 points).
    return coefficient_features(np.stack([mscn(g) for g in grey_batch.astype(np.float32)]))


def features(images: list[np.ndarray]) -> np.ndarray:
    """(N, 36) BRISQUE features; images are grouped by size so each group is one batch."""
    out = np.zeros((len(images), 36))
    by_shape: dict[tuple, list[int]] = {}
    for i, image in enumerate(images):
        by_shape.setdefault(image.shape[:2], []).append(i)
    for indices in by_shape.values():
        grey = np.stack([to_grey(images[i]) for i in indices])
        half = np.stack([cv2.resize(g, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_CUBIC) for g in grey])
        out[indices] = np.hstack([scale_features(grey), scale_features(half)])
    return out


class _PlainData(pickle.Unpickler):
    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refused global {module}.{name} in a BRISQUE scaling table")


@dataclass(frozen=True)
class SVRModel:
    support_vectors: np.ndarray  # (n_sv, 36)
    coefficients: np.ndarray  # (n_sv,)
    rho: float
    gamma: float
    feature_min: np.ndarray
    feature_max: np.ndarray

    def predict(self, feats: np.ndarray) -> np.ndarray:
        scaled = -1 + 2.0 * (feats - self.feature_min) / (self.feature_max - self.feature_min)
        d2 = ((scaled[:, None, :] - self.support_vectors[None]) ** 2).sum(-1)
        return np.exp(-self.gamma * d2) @ self.coefficients - self.rho


def model_dir() -> Path:
    from importlib.util import find_spec

    spec = find_spec("brisque")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("BRISQUE model files come from the 'brisque' package: pip install brisque==0.2.0")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


@lru_cache(maxsize=2)
def load_model(directory: str | None = None) -> SVRModel:
    """Parse libsvm's text model (svm.txt) and the min/max scaling table (normalize.pickle, data only)."""
    root = Path(directory) if directory else model_dir()
    header: dict[str, str] = {}
    coefs, vectors = [], []
    with open(root / "svm.txt", encoding="ascii") as fh:
        for line in fh:
            if line.strip() == "SV":
                break
            key, _, value = line.strip().partition(" ")
            header[key] = value
        for line in fh:
            parts = line.split()
            if not parts:
                continue
            coefs.append(float(parts[0]))
            vec = np.zeros(36)
            for item in parts[1:]:
                index, value = item.split(":")
                vec[int(index) - 1] = float(value)
            vectors.append(vec)
    if header.get("svm_type") != "epsilon_svr" or header.get("kernel_type") != "rbf":
        raise ValueError(f"{root / 'svm.txt'}: expected an epsilon-SVR with RBF kernel, got {header}")
    with open(root / "normalize.pickle", "rb") as fh:
        table = _PlainData(fh).load()
    return SVRModel(np.array(vectors), np.array(coefs), float(header["rho"]), float(header["gamma"]),
                    np.array(table["min_"], dtype=np.float64), np.array(table["max_"], dtype=np.float64))


def scores(images: list[np.ndarray]) -> np.ndarray:
    """BRISQUE score per image (lower is better; about 0-100)."""
    return load_model().predict(features(images))
