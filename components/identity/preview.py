"""Preview images for a person picking seeds: a seeds x degrees grid, or a contact sheet."""
from __future__ import annotations

import cv2
import numpy as np

CELL = 96
LABEL = 56
FONT = cv2.FONT_HERSHEY_SIMPLEX


def _put(canvas: np.ndarray, text: str, x: int, y: int) -> None:
    cv2.putText(canvas, text, (x, y), FONT, 0.4, (20, 20, 20), 1, cv2.LINE_AA)


def seed_degree_grid(frames: np.ndarray, seeds: list[int], degrees: list[float], index: int) -> np.ndarray:
    """frames (rows*cols, H, W, 3) in row-major order (seed, degree) -> one labelled RGB grid."""
    rows, cols = len(seeds), len(degrees)
    canvas = np.full((LABEL // 2 + rows * CELL, LABEL + cols * CELL, 3), 255, np.uint8)
    _put(canvas, f"dir {index}", 4, 18)
    for c, degree in enumerate(degrees):
        _put(canvas, f"{degree:+.1f}", LABEL + c * CELL + CELL // 3, 18)
    for r, seed in enumerate(seeds):
        y = LABEL // 2 + r * CELL
        _put(canvas, str(seed), 4, y + CELL // 2)
        for c in range(cols):
            cell = cv2.resize(frames[r * cols + c], (CELL, CELL), interpolation=cv2.INTER_AREA)
            canvas[y:y + CELL, LABEL + c * CELL:LABEL + (c + 1) * CELL] = cell
    return canvas


def contact_sheet(crops: list[np.ndarray], labels: list[str], columns: int = 8) -> np.ndarray:
    rows = max(1, -(-len(crops) // columns))
    canvas = np.full((rows * (CELL + 16), columns * CELL, 3), 255, np.uint8)
    for i, (crop, label) in enumerate(zip(crops, labels)):
        r, c = divmod(i, columns)
        y, x = r * (CELL + 16), c * CELL
        canvas[y:y + CELL, x:x + CELL] = cv2.resize(crop, (CELL, CELL), interpolation=cv2.INTER_AREA)
        _put(canvas, label[:14], x + 2, y + CELL + 12)
    return canvas
