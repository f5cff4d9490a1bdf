"""Real reference faces for the memorisation check, from folders, datasets or shipped samples."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from components.common import storage
from components.common.imageio import ImageError, is_image_name, read_image


def shipped_samples() -> Iterator[tuple[str, np.ndarray]]:
    """Public-domain photos that come with installed packages (no download)."""
    import matplotlib

    yield "matplotlib:grace_hopper.jpg", read_image(Path(matplotlib.get_data_path()) / "sample_data" /
                                                    "grace_hopper.jpg")
    try:
        from skimage import data
    except ImportError:
        return
    yield "skimage:astronaut", data.astronaut()


def reference_faces(specs: list[str], problems: list[str]) -> Iterator[tuple[str, np.ndarray, bool]]:
    """(name, RGB image, is_aligned_crop) for every reference; unreadable files go to `problems`."""
    from components.common.datasets import READERS, load_dataset

    for spec in specs:
        if spec == "samples":
            for name, image in shipped_samples():
                yield name, image, False
            continue
        fmt, sep, _ = spec.partition(":")
        if sep and fmt in READERS:
            for i, sample in enumerate(load_dataset(spec).samples):
                try:
                    yield f"{spec}#{sample.path.name if sample.path else i}", sample.image(), True
                except ImageError as exc:
                    problems.append(str(exc))
            continue
        root = storage.local_path(spec, download=True)
        if not root.is_dir():
            raise ValueError(f"privacy reference {spec!r}: not a folder, 'samples' or FORMAT:PATH dataset")
        for path in sorted(p for p in root.rglob("*") if is_image_name(p.name)):
            try:
                yield str(path), read_image(path), False
            except ImageError as exc:
                problems.append(str(exc))
