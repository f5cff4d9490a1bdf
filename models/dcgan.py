"""DCGAN generator at 64x64 (Radford et al. 2016): a stack of stride-2 transposed
convolutions with batch norm and ReLU, tanh output. The module layout (`main.<i>`)
follows the usual sequential DCGAN so pretrained weights of that layout load
directly, e.g. the face DCGAN shipped in the `gan-face-generate` package.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .checkpoints import CheckpointError, load_torch_weights


class DCGANGenerator(nn.Module):
    def __init__(self, z_dim: int = 100, base_channels: int = 64, img_channels: int = 3):
        super().__init__()
        self.z_dim = z_dim
        c = base_channels
        layers: list[nn.Module] = []
        widths = [z_dim, c * 8, c * 4, c * 2, c]
        for i, (cin, cout) in enumerate(zip(widths[:-1], widths[1:])):
            stride, pad = (1, 0) if i == 0 else (2, 1)  # 1 -> 4 -> 8 -> 16 -> 32
            layers += [nn.ConvTranspose2d(cin, cout, 4, stride, pad, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(c, img_channels, 4, 2, 1, bias=False), nn.Tanh()]  # 32 -> 64
        self.main = nn.Sequential(*layers)

    def features(self, z: torch.Tensor) -> torch.Tensor:
        """First-block activations (B, 8c, 4, 4): the space latent directions are found in."""
        return self.main[:3](z.view(z.shape[0], self.z_dim, 1, 1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, z_dim) -> images (B, 3, 64, 64) in [-1, 1]."""
        return self.main(z.view(z.shape[0], self.z_dim, 1, 1))


def packaged_dcgan_weights() -> Path:
    """Path of the DigiFace-1M face DCGAN weights inside the installed gan-face-generate package."""
    from importlib.util import find_spec

    spec = find_spec("gan_face_generate")
    if spec is None or not spec.submodule_search_locations:
        raise CheckpointError("the dcgan64 backend needs the 'gan-face-generate' package "
                              "(pip install --no-deps gan-face-generate==1.1.1) or an explicit --weights path")
    path = Path(list(spec.submodule_search_locations)[0]) / "weights.tar"
    if not path.is_file():
        raise CheckpointError(f"{path}: weights file missing from the gan-face-generate package")
    return path


def load_dcgan(path: str | Path | None = None, device: str = "cpu") -> DCGANGenerator:
    """Load generator weights (a plain state_dict or a dict with 'netG_state_dict'), never executing code."""
    path = Path(path) if path else packaged_dcgan_weights()
    state = load_torch_weights(path)
    if isinstance(state, dict) and "netG_state_dict" in state:
        state = state["netG_state_dict"]
    if not isinstance(state, dict) or "main.0.weight" not in state:
        raise CheckpointError(f"{path}: not a DCGAN generator state_dict (no 'main.0.weight')")
    conv_keys = sorted((k for k, v in state.items() if k.endswith(".weight") and v.ndim == 4),
                       key=lambda k: int(k.split(".")[1]))
    z_dim, width = state["main.0.weight"].shape[:2]
    net = DCGANGenerator(z_dim=int(z_dim), base_channels=int(width) // 8,
                         img_channels=int(state[conv_keys[-1]].shape[1]))
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit the DCGAN layout ({exc})") from None
    return net.eval().to(device)
