"""Skin tone of a face as the individual typology angle (ITA) in CIELAB.

ITA = arctan((L* - 50) / b*) in degrees, measured on skin patches of an aligned face crop (both
cheeks and the forehead, placed from the 5-point alignment template, away from eyes, brows,
mouth and hair). Categories (Chardon et al. 1991; Del Bino et al. 2006): very light > 55,
light 41-55, intermediate 28-41, tan 10-28, brown -30-10, dark < -30. Greyscale images have no
b* and get no ITA, nor do faces whose skin has no yellow chroma (median b* < 1: a strong colour cast
or a monochrome tint), where the angle would be a meaningless +-90 degrees.
"""
from __future__ import annotations

import cv2
import numpy as np

from components.common.faces import template_points

CATEGORIES = (("very light", 55.0), ("light", 41.0), ("intermediate", 28.0), ("tan", 10.0), ("brown", -30.0),
              ("dark", -np.inf))
GREY = "n/a (greyscale or no skin chroma)"
MIN_CHROMA = 1.0


def category(ita: float | None) -> str:
    if ita is None:
        return GREY
    return next(name for name, low in CATEGORIES if ita > low)


def skin_patches(size: int, padding: float = 0.0) -> list[tuple[int, int, int, int]]:
    """(x0, y0, x1, y1) of the left cheek, right cheek and forehead patches in an aligned crop."""
    eye_r, eye_l, nose, mouth_r, mouth_l = template_points(size, padding)
    iod = np.linalg.norm(eye_l - eye_r)
    half = max(1, int(round(0.12 * iod)))
    centres = [(eye_r + mouth_r) / 2 + np.array([-0.12 * iod, 0.0]),  # cheeks, a little outwards
               (eye_l + mouth_l) / 2 + np.array([0.12 * iod, 0.0]),
               (eye_r + eye_l) / 2 - np.array([0.0, 0.55 * iod])]  # forehead, above the brows
    boxes = []
    for cx, cy in centres:
        x0, y0 = int(np.clip(cx - half, 0, size - 1)), int(np.clip(cy - half, 0, size - 1))
        boxes.append((x0, y0, max(x0 + 1, int(np.clip(cx + half, 1, size))), max(y0 + 1, int(np.clip(cy + half, 1, size)))))
    return boxes


def is_greyscale(image: np.ndarray) -> bool:
    if image.ndim == 2:
        return True
    rgb = image[..., :3].astype(np.int16)
    return int(np.abs(rgb[..., 0] - rgb[..., 1]).max()) <= 2 and int(np.abs(rgb[..., 1] - rgb[..., 2]).max()) <= 2


def ita(crop: np.ndarray, padding: float = 0.0) -> float | None:
    """ITA in degrees of an aligned RGB face crop (square), or None for a greyscale one."""
    if is_greyscale(crop):
        return None
    size = crop.shape[0]
    lab = cv2.cvtColor(crop[..., :3].astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)  # L 0..100, b about -127..127
    pixels = np.concatenate([lab[y0:y1, x0:x1].reshape(-1, 3) for x0, y0, x1, y1 in skin_patches(size, padding)])
    # the median resists a stray shadow, highlight or lock of hair in a patch
    lightness, b = float(np.median(pixels[:, 0])), float(np.median(pixels[:, 2]))
    if b < MIN_CHROMA:
        return None
    return float(np.degrees(np.arctan((lightness - 50.0) / b)))
