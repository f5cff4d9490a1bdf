"""The `folder` backend: real face photos from a directory or an s3:// prefix."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

import cv2
import numpy as np

from components.common import storage
from components.common.imageio import ImageError, decode_image, is_image_name


@dataclass(frozen=True)
class Photo:
    name: str  # relative to the source
    order: int


def list_photos(source: str, limit: int) -> tuple[list[Photo], list[str]]:
    """Up to `limit` photos in sorted order, and the names skipped because they are not image files."""
    photos, skipped = [], []
    for name in storage.list_files(source):
        if any(part.startswith(".") for part in PurePosixPath(name).parts):
            continue  # hidden files and our own journals/locks
        if not is_image_name(name):
            skipped.append(name)
            continue
        if len(photos) < limit:
            photos.append(Photo(name, len(photos)))
    return photos, skipped


def load_photo(source: str, photo: Photo, max_side: int) -> np.ndarray:
    """Decode one photo to RGB and shrink it to `max_side`; raises ImageError naming the file."""
    loc = storage.parse_uri(source).child(photo.name)
    try:
        data = storage.read_bytes(loc)
    except storage.StorageError as exc:
        raise ImageError(str(loc), str(exc)) from None
    rgb = decode_image(data, str(loc))
    scale = max_side / max(rgb.shape[:2])
    if scale < 1:
        size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return rgb
