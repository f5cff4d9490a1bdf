"""GANmut-style expression editor (d'Apolito et al. 2021) on a StarGAN backbone
(Choi et al. 2018) with GANimation attention and colour heads (Pumarola et al. 2018).

Linear GANmut parametrisation: each emotion k has a learned unit axis a_k in a 2-D
plane; an expression is the code c = rho * a_k (rho = intensity, neutral at the
origin), and any point of the plane, rho [cos theta, sin theta], mixes neighbouring
emotions. The generator sees the image with the code tiled as two extra channels and
outputs attention A and colour C: out = A * input + (1 - A) * C. The discriminator
has three heads: real/fake (patch), emotion class, and code regression.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False), nn.InstanceNorm2d(channels, affine=True),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False), nn.InstanceNorm2d(channels, affine=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class EmotionAxes(nn.Module):
    """One learned unit direction per emotion in the 2-D code plane (neutral: none, it is the origin)."""

    def __init__(self, emotions: list[str]):
        super().__init__()
        self.emotions = list(emotions)
        angles = torch.arange(len(emotions), dtype=torch.float32) * (2 * math.pi / max(len(emotions), 1))
        self.directions = nn.Parameter(torch.stack([angles.cos(), angles.sin()], dim=1))

    def unit(self) -> torch.Tensor:
        return F.normalize(self.directions, dim=1)

    def code(self, emotion_index: torch.Tensor, rho: torch.Tensor) -> torch.Tensor:
        return self.unit()[emotion_index] * rho.unsqueeze(1)


class GANmutGenerator(nn.Module):
    def __init__(self, emotions: list[str], base_channels: int = 64, res_blocks: int = 6, code_dim: int = 2):
        super().__init__()
        self.axes = EmotionAxes(emotions)
        c = base_channels
        layers: list[nn.Module] = [nn.Conv2d(3 + code_dim, c, 7, 1, 3, bias=False), nn.InstanceNorm2d(c, affine=True),
                                   nn.ReLU(inplace=True)]
        for _ in range(2):  # down-sampling
            layers += [nn.Conv2d(c, c * 2, 4, 2, 1, bias=False), nn.InstanceNorm2d(c * 2, affine=True),
                       nn.ReLU(inplace=True)]
            c *= 2
        layers += [ResidualBlock(c) for _ in range(res_blocks)]
        for _ in range(2):  # up-sampling
            layers += [nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False), nn.InstanceNorm2d(c // 2, affine=True),
                       nn.ReLU(inplace=True)]
            c //= 2
        self.body = nn.Sequential(*layers)
        self.colour = nn.Conv2d(c, 3, 7, 1, 3)
        self.attention = nn.Conv2d(c, 1, 7, 1, 3)

    def forward(self, x: torch.Tensor, code: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, 3, H, W) in [-1, 1], code (B, 2) -> (edited image, attention map)."""
        tiled = code[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
        features = self.body(torch.cat([x, tiled], dim=1))
        colour = torch.tanh(self.colour(features))
        attention = torch.sigmoid(self.attention(features))
        return attention * x + (1 - attention) * colour, attention


class GANmutDiscriminator(nn.Module):
    def __init__(self, num_emotions: int, image_size: int = 128, base_channels: int = 64, depth: int = 5,
                 code_dim: int = 2):
        super().__init__()
        layers: list[nn.Module] = []
        c_in, c = 3, base_channels
        for _ in range(depth):
            layers += [nn.Conv2d(c_in, c, 4, 2, 1), nn.LeakyReLU(0.01, inplace=True)]
            c_in, c = c, c * 2
        self.body = nn.Sequential(*layers)
        final = image_size // 2 ** depth
        self.real_fake = nn.Conv2d(c_in, 1, 3, 1, 1, bias=False)
        self.emotion = nn.Conv2d(c_in, num_emotions, final, bias=False)
        self.code = nn.Conv2d(c_in, code_dim, final, bias=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return self.real_fake(h), self.emotion(h).flatten(1), self.code(h).flatten(1)
