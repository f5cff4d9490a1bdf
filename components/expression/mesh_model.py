"""py-feat's linear AU -> 478-point mesh model, read from the installed package (never copied here).

`feat/resources/au_to_mesh_pls_v4.npz` (py-feat==2.1.5): 20 AUs then pitch/yaw/roll on a 0-1 scale,
`x @ coef + intercept` = all x, then all y (up), then all z of MediaPipe's 478 points; all inputs 0 is
the neutral, frontal mesh. The code is MIT; the map was fitted on research datasets (see README).
We use its per-AU rows as displacement fields, flipped to image axes (y down).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path

import numpy as np

MODEL_FILE = "au_to_mesh_pls_v4.npz"


class MeshModelError(RuntimeError):
    pass


@dataclass(frozen=True)
class MeshModel:
    neutral: np.ndarray  # (478, 3) frontal neutral mesh, image axes (x right, y down)
    deltas: dict[int, np.ndarray]  # AU -> (478, 3) displacement at AU intensity 1, image axes

    @property
    def units(self) -> tuple[int, ...]:
        return tuple(sorted(self.deltas))


def model_path() -> Path:
    spec = find_spec("feat")  # locates the package without importing it (its __init__ pulls in torch)
    if spec is None or not spec.submodule_search_locations:
        raise MeshModelError(f"py-feat is not installed: pip install --no-deps py-feat==2.1.5 (for {MODEL_FILE})")
    path = Path(list(spec.submodule_search_locations)[0]) / "resources" / MODEL_FILE
    if not path.is_file():
        raise MeshModelError(f"{path} is missing: the editor needs py-feat==2.1.5's {MODEL_FILE}")
    return path


def _to_image_axes(flat: np.ndarray) -> np.ndarray:
    points = flat.reshape(3, -1).T.astype(np.float64)
    points[:, 1] *= -1.0  # the model's y points up
    points[:, 2] *= -1.0  # keep a right-handed frame after flipping y: z towards the camera negative
    return points


@lru_cache(maxsize=1)
def load_mesh_model() -> MeshModel:
    path = model_path()
    try:
        with np.load(path, allow_pickle=False) as data:
            coef, intercept = data["coef"], data["intercept"]
            columns = [str(c) for c in data["input_columns"]]
    except (OSError, KeyError, ValueError) as exc:
        raise MeshModelError(f"{path}: not a readable AU-to-mesh model ({exc})") from exc
    if coef.shape != (len(columns), 478 * 3):
        raise MeshModelError(f"{path}: coef has shape {coef.shape}, expected ({len(columns)}, {478 * 3})")
    deltas = {int(name[2:]): _to_image_axes(coef[i]) for i, name in enumerate(columns) if name.startswith("AU")}
    return MeshModel(_to_image_axes(intercept), deltas)
