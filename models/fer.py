"""FER classifiers: a compact CNN (the default), the simple CNN of Gholipour Picha et al. (2023,
table 1) and ResNet-18, with a softmax head over emotions or a multi-label sigmoid head over AUs."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .checkpoints import CheckpointError, load_torch_weights

class SimpleCNN(nn.Module):
    """Table 1: conv32, conv64, pool, drop .25, conv128, pool, conv128, pool, drop .25, dense 1024, drop .5.

    With `batch_norm` (default) each conv is followed by batch normalisation: as in table 1 the
    network did not train from scratch on a few hundred synthetic faces (measured here: training
    accuracy stuck at chance for 30 epochs at lr 1e-3); with it, it does. `batch_norm=False` is table 1."""

    def __init__(self, num_outputs: int, in_channels: int = 1, size: int = 64, batch_norm: bool = True):
        super().__init__()
        if size % 8:
            raise ValueError(f"simple_cnn input size must be a multiple of 8, got {size}")

        def conv(cin, cout):
            norm = [nn.BatchNorm2d(cout)] if batch_norm else []
            return [nn.Conv2d(cin, cout, 3, padding=1), *norm, nn.ReLU(inplace=True)]

        self.features = nn.Sequential(
            *conv(in_channels, 32), *conv(32, 64), nn.MaxPool2d(2), nn.Dropout(0.25),
            *conv(64, 128), nn.MaxPool2d(2), *conv(128, 128), nn.MaxPool2d(2), nn.Dropout(0.25))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(128 * (size // 8) ** 2, 1024), nn.ReLU(inplace=True),
                                        nn.Dropout(0.5), nn.Linear(1024, num_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class CompactCNN(nn.Module):
    """Four conv-BN-ReLU-pool stages (width, 2x, 4x, 8x), pooled to a 4x4 map, dropout, one linear layer.

    The 4x4 map keeps where a feature is (brows above, mouth below on an aligned face), which global
    pooling would lose; no hidden dense layer. Table 1's 8192 -> 1024 dense layer holds 8.4 M of the
    simple CNN's 8.7 M weights, and under Adam its ReLUs die within the first steps (measured in
    benchmarks/fer_utility.py), leaving a network that outputs the class prior."""

    def __init__(self, num_outputs: int, in_channels: int = 1, width: int = 16, dropout: float = 0.2):
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for stage in range(4):
            out = width * 2 ** stage
            layers += [nn.Conv2d(channels, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True),
                       nn.MaxPool2d(2)]
            channels = out
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Dropout(dropout),
                                        nn.Linear(channels * 16, num_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def resnet18(num_outputs: int, in_channels: int = 3, weights: str | Path | None = None,
             weights_sha256: str | None = None) -> nn.Module:
    from torchvision.models import resnet18 as tv_resnet18

    net = tv_resnet18(weights=None, num_classes=num_outputs)
    if in_channels != 3:
        net.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
    if weights:
        state = load_torch_weights(weights, weights_sha256)
        state = state.get("state_dict", state) if isinstance(state, dict) else state
        own = net.state_dict()
        usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
        if not any(k.startswith("layer1.") for k in usable):
            raise CheckpointError(f"{weights}: no ResNet-18 backbone weights in this file")
        net.load_state_dict(usable, strict=False)  # the head is new when class counts differ
    return net


class MirrorAveraged(nn.Module):
    """A trained network whose answer is the mean of its outputs for a face and for the face's mirror image.
    An expression reads the same mirrored (the networks train on random flips), and the two views together
    steady the answer: held-out macro-F1 rose on every seed (README, train section, "mirror averaging")."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.net(x) + self.net(torch.flip(x, dims=[-1]))) / 2


class Ensemble(nn.Module):
    """Networks trained alike from different initialisations and batch orders, answering with the mean of their
    outputs. One small network's answers on faces unlike its training faces move with its seed; the mean of a
    few moves less (README, train section, "ensemble")."""

    def __init__(self, nets: list[nn.Module]):
        super().__init__()
        self.nets = nn.ModuleList(nets)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([net(x) for net in self.nets]).mean(0)


def ensemble_of(nets: list[nn.Module]) -> nn.Module:
    """The networks answering together: one network as it is, several as an `Ensemble`."""
    return nets[0] if len(nets) == 1 else Ensemble(nets)


def build_model(name: str, num_outputs: int, channels: int, size: int, weights: str | None = None,
                weights_sha256: str | None = None) -> nn.Module:
    """The network `name` for (channels, size, size) inputs and `num_outputs` logits."""
    if name == "compact_cnn":
        return CompactCNN(num_outputs, channels)
    if name == "simple_cnn":
        return SimpleCNN(num_outputs, channels, size)
    if name == "resnet18":
        return resnet18(num_outputs, channels, weights, weights_sha256)
    raise ValueError(f"unknown model {name!r} (compact_cnn, simple_cnn, resnet18)")
