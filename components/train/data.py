"""Training data: mixing real and synthetic samples, a cached torch Dataset, augmentation, sampling."""
from __future__ import annotations

import math

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler, WeightedRandomSampler

from components.common.fer_preprocess import PreprocessSpec

from components.common.datasets import Sample


def mix(real: list[Sample], synthetic: list[Sample], ratio: float, seed: int) -> list[Sample]:
    """Real + k x synthetic, counted in identities (groups) as the paper's units; all synthetic without real."""
    if not real:
        return synthetic
    real_groups = len({s.group for s in real})
    groups = sorted({s.group for s in synthetic})
    rng = np.random.RandomState(seed)
    rng.shuffle(groups)
    keep = set(groups[: int(round(ratio * real_groups))])
    return real + [s for s in synthetic if s.group in keep]


class FaceDataset(Dataset):
    """Preprocessed faces and their targets, with training-time augmentation on the tensors.

    The DataLoader fetches a whole batch at once (`__getitems__`): one gather from the cached array and,
    for flips, one mask for the batch, instead of a Python call and a transform per image."""

    def __init__(self, arrays: np.ndarray, targets: np.ndarray, spec: PreprocessSpec, augment: str = "flip"):
        from torchvision.transforms import v2

        self.arrays, self.targets, self.flip = arrays, targets, augment in ("flip", "full", "sharpness")
        self.sharpness = SharpnessJitter(spec.standardise) if augment == "sharpness" else None
        self._per_image = v2.Compose([
            v2.RandomResizedCrop(spec.size, scale=(0.8, 1.0), ratio=(0.9, 1.1), antialias=True),
            v2.RandomErasing(p=0.25, scale=(0.02, 0.12))]) if augment == "full" else None

    def __len__(self) -> int:
        return len(self.arrays)

    def __getitem__(self, index: int):
        x, y = self.__getitems__([index])
        return x[0], y[0]

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.from_numpy(self.arrays[indices])
        if self.flip:
            x = torch.where(torch.rand(len(x), 1, 1, 1) < 0.5, x.flip(-1), x)
        if self._per_image is not None:
            x = torch.stack([self._per_image(image) for image in x])
        if self.sharpness is not None:
            x = self.sharpness(x)
        return x, torch.as_tensor(self.targets[indices])


class SharpnessJitter:
    """Each face blurred or sharpened by a random amount, plus a little sensor noise.

    The demo's faces come from a 64 px generator, upscaled: softer than a photograph at the same size.
    `x + amount * (x - blur(x))` blurs for amount < 0 (at -1 the Gaussian blur itself) and sharpens for
    amount > 0, so the network cannot lean on how sharp an edge is, only on where it is."""

    def __init__(self, standardise: bool, sigma: tuple[float, float] = (0.5, 1.5), amount: tuple[float, float] = (-1.0, 1.0),
                 noise: float = 0.08):
        self.standardise, self.sigma, self.amount, self.noise = standardise, sigma, amount, noise

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        n, channels = x.shape[:2]
        sigmas = torch.empty(n, 1).uniform_(*self.sigma)
        amounts = torch.empty(n, 1, 1, 1).uniform_(*self.amount)
        taps = torch.exp(-0.5 * (torch.arange(-2.0, 3.0) / sigmas) ** 2)
        taps = taps / taps.sum(dim=1, keepdim=True)
        kernels = (taps[:, :, None] * taps[:, None, :]).repeat_interleave(channels, 0)[:, None]
        # One grouped convolution blurs every image with its own kernel.
        padded = torch.nn.functional.pad(x.reshape(1, n * channels, *x.shape[2:]), (2, 2, 2, 2), mode="reflect")
        blurred = torch.nn.functional.conv2d(padded, kernels, groups=n * channels).reshape(x.shape)
        x = x + amounts * (x - blurred)
        x = x + torch.randn_like(x) * torch.empty(n, 1, 1, 1).uniform_(0, self.noise)
        if self.standardise:  # keep each face at zero mean, unit variance, as serving sees it
            centred = x - x.mean(dim=(2, 3), keepdim=True)
            x = centred / centred.std(dim=(2, 3), keepdim=True).clamp_min(1e-3)
        return x


def keep_batch(batch):
    """collate_fn for FaceDataset: __getitems__ already returns the batch tensors."""
    return batch


def balanced_sampler(labels: np.ndarray, seed: int) -> WeightedRandomSampler:
    counts = np.bincount(labels)
    weights = 1.0 / counts[labels]
    generator = torch.Generator().manual_seed(seed)
    return WeightedRandomSampler(torch.as_tensor(weights, dtype=torch.double), len(labels), replacement=True,
                                 generator=generator)


class IdentityBatches(Sampler[list[int]]):
    """Batches of whole identities: every image of each identity drawn goes into the same batch.

    A synthetic identity carries every emotion, so within a batch the features that tell people
    apart get gradients towards every class, which cancel, and what remains is the expression.
    With random batches that cancellation holds only on average: a global-pooling CNN sat at the
    class prior for hundreds of steps with them and left it within 300 with these. With compact_cnn
    and a one-cycle schedule both learn, and over 30 epochs shuffled batches score as well or better
    (benchmarks/fer_utility.py), so this is an option, not the default. The number of batches per
    epoch is fixed, so a step-wise schedule knows its length.
    """

    def __init__(self, groups: list[str], batch_size: int, seed: int):
        self.members: dict[str, list[int]] = {}
        for index, group in enumerate(groups):
            self.members.setdefault(group, []).append(index)
        self.order = sorted(self.members)
        per_identity = len(groups) / max(len(self.order), 1)
        self.identities_per_batch = max(1, round(batch_size / per_identity))
        self.seed, self.epoch = seed, 0

    def __len__(self) -> int:
        return math.ceil(len(self.order) / self.identities_per_batch)

    def __iter__(self):
        rng = np.random.RandomState(self.seed + self.epoch)
        self.epoch += 1
        order = [self.order[i] for i in rng.permutation(len(self.order))]
        for start in range(0, len(order), self.identities_per_batch):
            yield [i for group in order[start:start + self.identities_per_batch] for i in self.members[group]]
