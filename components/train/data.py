"""Training data: mixing real and synthetic samples, a cached torch Dataset, augmentation, sampling."""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset, WeightedRandomSampler

from components.common.fer_preprocess import PreprocessSpec, preprocess

from .datasets import Sample


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


def load_arrays(samples: list[Sample], spec: PreprocessSpec) -> tuple[np.ndarray, list[int], list[str]]:
    """Preprocess every sample once: (N, C, S, S) float32, the indices kept and the problems of the rest.
    Memory is N x C x S x S x 4 bytes (10k grey 64 px faces: 160 MB)."""
    from components.common.imageio import ImageError
    from components.common.telemetry import progress

    arrays, kept, problems = [], [], []
    for i, sample in enumerate(progress(samples, desc="load faces")):
        try:
            arrays.append(preprocess([sample.image()], spec)[0])
            kept.append(i)
        except (ImageError, OSError) as exc:
            problems.append(str(exc))
    empty = np.zeros((0, spec.channels, spec.size, spec.size), np.float32)
    return (np.stack(arrays) if arrays else empty), kept, problems


class FaceDataset(Dataset):
    """Preprocessed faces and their targets, with training-time augmentation on the tensors."""

    def __init__(self, arrays: np.ndarray, targets: np.ndarray, spec: PreprocessSpec, augment: bool):
        self.arrays, self.targets, self.augment = arrays, targets, augment
        if augment:
            from torchvision.transforms import v2

            self._augment = v2.Compose([
                v2.RandomHorizontalFlip(),
                v2.RandomResizedCrop(spec.size, scale=(0.8, 1.0), ratio=(0.9, 1.1), antialias=True),
                v2.RandomErasing(p=0.25, scale=(0.02, 0.12)),
            ])

    def __len__(self) -> int:
        return len(self.arrays)

    def __getitem__(self, index: int):
        x = torch.from_numpy(self.arrays[index])
        if self.augment:
            x = self._augment(x)
        return x, torch.as_tensor(self.targets[index])


def balanced_sampler(labels: np.ndarray, seed: int) -> WeightedRandomSampler:
    counts = np.bincount(labels)
    weights = 1.0 / counts[labels]
    generator = torch.Generator().manual_seed(seed)
    return WeightedRandomSampler(torch.as_tensor(weights, dtype=torch.double), len(labels), replacement=True,
                                 generator=generator)
