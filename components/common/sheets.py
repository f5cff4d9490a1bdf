"""Labelled image grids for people to judge results at a glance (previews, contact sheets)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .imageio import read_image, write_image

FONT = cv2.FONT_HERSHEY_SIMPLEX


def _put(canvas: np.ndarray, text: str, x: int, y: int, scale: float = 0.4) -> None:
    cv2.putText(canvas, text, (x, y), FONT, scale, (20, 20, 20), 1, cv2.LINE_AA)


def labelled_grid(cells: list[list[np.ndarray | None]], row_labels: list[str], col_labels: list[str],
                  corner: str = "", cell: int = 96, label_width: int = 64) -> np.ndarray:
    """Rows x columns of RGB images (None leaves a blank), with a label per row and per column."""
    rows, cols = len(cells), max((len(r) for r in cells), default=0)
    header = 28
    canvas = np.full((header + rows * cell, label_width + cols * cell, 3), 255, np.uint8)
    _put(canvas, corner[:10], 4, 18)
    for c, label in enumerate(col_labels[:cols]):
        # Long column labels are split over two lines so neighbours do not overlap.
        first, second = (label[:12], label[12:24]) if len(label) > 12 else (label, "")
        _put(canvas, first, label_width + c * cell + 3, 12, 0.35)
        _put(canvas, second, label_width + c * cell + 3, 24, 0.35)
    for r, row in enumerate(cells):
        y = header + r * cell
        _put(canvas, row_labels[r][:10], 4, y + cell // 2)
        for c, image in enumerate(row):
            if image is not None:
                tile = cv2.resize(image, (cell, cell), interpolation=cv2.INTER_AREA)
                canvas[y:y + cell, label_width + c * cell:label_width + (c + 1) * cell] = tile
    return canvas


def tiled(images: list[np.ndarray], labels: list[str], columns: int = 8, cell: int = 96) -> np.ndarray:
    """A contact sheet of images in reading order, each with its label underneath."""
    rows = max(1, -(-len(images) // columns))
    canvas = np.full((rows * (cell + 16), columns * cell, 3), 255, np.uint8)
    for i, (image, label) in enumerate(zip(images, labels)):
        r, c = divmod(i, columns)
        y, x = r * (cell + 16), c * cell
        canvas[y:y + cell, x:x + cell] = cv2.resize(image, (cell, cell), interpolation=cv2.INTER_AREA)
        _put(canvas, label[:14], x + 2, y + cell + 12)
    return canvas


def contact_sheet(out: Path, rows: list[dict], identities: int) -> str | None:
    """Rows: the first identities; columns: their targets in plan order."""
    if identities == 0 or not rows:
        return None
    by_parent: dict[str, list[dict]] = {}
    for row in rows:
        by_parent.setdefault(row["parent_id"], []).append(row)
    parents = list(by_parent)[:identities]
    columns = max(len(by_parent[p]) for p in parents)
    widest = next(by_parent[p] for p in parents if len(by_parent[p]) == columns)
    col_labels = [target_code(r) for r in widest]
    cells = [[read_image(out / r["path"]) for r in by_parent[p]] for p in parents]
    grid = labelled_grid(cells, [str(by_parent[p][0]["seed"]) for p in parents], col_labels, corner="seed")
    write_image(out / "contact_sheet.png", grid)
    return "contact_sheet.png"


def target_code(row: dict) -> str:
    """Column label: the target without its intensity, which is drawn per identity."""
    if row["target_kind"] == "emotion":
        return row["target_emotion"]
    if row["target_kind"] == "polar":
        return f"polar {row['target_theta']:g}"
    return "AU" + "+".join(row["target_aus"])
