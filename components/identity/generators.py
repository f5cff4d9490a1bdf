"""GAN identity backends behind one interface: seed -> latent -> frame.

`latent(seed)` gives the point in the backend's edit space (z for the DCGAN,
w for StyleGAN2), `directions()` the principal directions to move along, and
`render(latents)` the RGB frames at `frame_size`.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from functools import cached_property

import cv2
import numpy as np
import torch

from components.common import storage
from models.checkpoints import CheckpointError, sha256_of, verify_checksum
from models.dcgan import load_dcgan, packaged_dcgan_weights
from models.stylegan2 import load_stylegan2, z_from_seed

from .latent import Directions, principal_directions, regressed_directions
from .params import IdentityParams

PCA_SEED = 20240601  # fixed so every run of a given generator finds the same directions


def to_uint8_frames(images: torch.Tensor, size: int) -> np.ndarray:
    """(B, C, H, W) in [-1, 1] -> (B, size, size, 3) uint8, resized with area (down) or cubic (up)."""
    arr = (images.detach().float() * 127.5 + 128).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    if arr.shape[1] == size:
        return arr
    interp = cv2.INTER_AREA if arr.shape[1] > size else cv2.INTER_CUBIC
    return np.stack([cv2.resize(a, (size, size), interpolation=interp) for a in arr])


class GanBackend(ABC):
    name: str
    source: str

    def __init__(self, params: IdentityParams):
        self.params = params
        self.device = torch.device(params.device)

    @abstractmethod
    def latent(self, seed: int) -> np.ndarray: ...

    @abstractmethod
    def _render(self, latents: torch.Tensor) -> torch.Tensor: ...

    @abstractmethod
    def _directions(self) -> Directions: ...

    @cached_property
    def directions(self) -> Directions:
        return self._directions()

    def moved_latent(self, seed: int, index: int | None, degree: float) -> np.ndarray:
        latent = self.latent(seed)
        if index is None or degree == 0:
            return latent  # no need to find directions at all
        return self.directions.move(latent, index, degree)

    @torch.no_grad()
    def render(self, latents: np.ndarray) -> np.ndarray:
        batch = torch.from_numpy(np.asarray(latents, dtype=np.float32)).to(self.device)
        return to_uint8_frames(self._render(batch), self.params.frame_size)


class DCGAN64Backend(GanBackend):
    name = "dcgan64"

    def __init__(self, params: IdentityParams, weights_path: str | None = None):
        super().__init__(params)
        path = weights_path or str(packaged_dcgan_weights())
        verify_checksum(path, params.weights_sha256)
        self.source = f"dcgan64:sha256:{sha256_of(path)[:16]}"  # content, not a machine-specific path
        self.net = load_dcgan(path, device=params.device)

    def latent(self, seed: int) -> np.ndarray:
        # Truncation for a Gaussian z prior: shrink towards its mean (0).
        return z_from_seed(seed, self.net.z_dim)[0] * self.params.truncation_psi

    def _render(self, latents: torch.Tensor) -> torch.Tensor:
        return self.net(latents)

    @torch.no_grad()
    def _directions(self) -> Directions:
        z = np.random.RandomState(PCA_SEED).randn(self.params.pca_samples, self.net.z_dim)
        feats = self.net.features(torch.from_numpy(z.astype(np.float32)).to(self.device))
        return regressed_directions(z, feats.flatten(1).cpu().double().numpy(), self.params.pca_components)


class StyleGAN2Backend(GanBackend):
    name = "stylegan2"

    def __init__(self, params: IdentityParams, weights_path: str):
        super().__init__(params)
        self.source = f"stylegan2:sha256:{sha256_of(weights_path)[:16]}"
        self.net = load_stylegan2(weights_path, params.weights_sha256, network=params.network).to(self.device)
        try:
            self.net.class_vector(params.class_index)
        except ValueError as exc:
            raise CheckpointError(f"{params.weights}: {exc}") from None
        if params.class_index is not None:
            self.source += f":class{params.class_index}"

    @torch.no_grad()
    def _mapping(self, z: np.ndarray, psi: float) -> np.ndarray:
        zt = torch.from_numpy(z.astype(np.float32)).to(self.device)
        c = self.net.class_vector(self.params.class_index, batch=len(zt))
        return self.net.mapping(zt, c, truncation_psi=psi)[:, 0].cpu().double().numpy()

    def latent(self, seed: int) -> np.ndarray:
        return self._mapping(z_from_seed(seed, self.net.z_dim), self.params.truncation_psi)[0]

    def _render(self, latents: torch.Tensor) -> torch.Tensor:
        ws = latents.unsqueeze(1).repeat(1, self.net.num_ws, 1)
        return self.net.synthesis(ws, noise_mode="const")  # fp16 blocks run in float16 on CUDA

    def _directions(self) -> Directions:
        z = np.random.RandomState(PCA_SEED).randn(self.params.pca_samples, self.net.z_dim)
        return principal_directions(self._mapping(z, 1.0), self.params.pca_components)


def make_gan_backend(params: IdentityParams, cache_dir) -> GanBackend:
    weights = storage.fetch_to_local(params.weights, cache_dir) if params.weights else None
    if params.backend == "dcgan64":
        return DCGAN64Backend(params, weights)
    if params.backend == "stylegan2":
        return StyleGAN2Backend(params, weights)
    raise ValueError(f"{params.backend!r} is not a GAN backend")
