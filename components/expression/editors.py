"""Expression editors behind one interface: edit_batch(crops, landmarks, targets) -> edits."""
from __future__ import annotations

from typing import Protocol

import numpy as np

from .au_warp import AUWarpEditor, Edit
from .mesh_ratio import RatioImage, lay_on_crop, load_forehead_wrinkles, load_nose_wrinkles
from .params import ExpressionParams
from .targets import Target


class EditRejected(ValueError):
    """A face an editor must not edit (e.g. no mesh, pose out of range); `reason` is the stage.json key."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


class Editor(Protocol):
    name: str

    def edit_batch(self, crops: list[np.ndarray], landmarks: list[np.ndarray], targets: list[Target]) -> list[Edit]:
        ...


class AUWarp:
    """Lays real faces' creases (AU9's, AU1/AU2's) onto each distinct face once, where its mesh is found, then
    edits it."""
    name = "au_warp"

    def __init__(self, params: ExpressionParams):
        self._editor = AUWarpEditor(strength=params.strength, appearance=params.appearance)
        self._wrinkles = _real_wrinkles(params)

    def edit_batch(self, crops, landmarks, targets):
        laid: dict[int, tuple] = {}
        edits = []
        for crop, points, target in zip(crops, landmarks, targets):
            if any(self._wrinkles) and id(crop) not in laid and any(target.aus.get(au, 0.0) > 0 for au in (1, 2, 9)):
                laid[id(crop)] = lay_on_crop(crop, *self._wrinkles)
            nose, forehead = laid.get(id(crop), (None, None))
            edits.append(self._editor.edit(crop, points, target.aus, side=target.side, nose_wrinkles=nose,
                                           forehead_wrinkles=forehead))
        return edits


def _real_wrinkles(params: ExpressionParams) -> tuple[tuple[RatioImage, ...], tuple[RatioImage, ...]]:
    """AU9's and AU1/AU2's ratio images, loaded only when an editor will lay them."""
    if not params.appearance:
        return (), ()
    return load_nose_wrinkles(params.nose_wrinkles), load_forehead_wrinkles(params.forehead_wrinkles)


class MeshWarp:
    """Prepares each distinct face once (mesh, pose, fits), then edits it for every target."""
    name = "mesh_warp"

    def __init__(self, params: ExpressionParams):
        from .mesh_warp import MeshWarpEditor

        nose, forehead = _real_wrinkles(params)
        self._editor = MeshWarpEditor(strength=params.strength, appearance=params.appearance, nose_wrinkles=nose,
                                      forehead_wrinkles=forehead)

    def edit_batch(self, crops, landmarks, targets):
        prepared: dict[int, object] = {}
        edits = []
        for crop, points, target in zip(crops, landmarks, targets):
            if id(crop) not in prepared:
                prepared[id(crop)] = self._editor.prepare(crop, points)
            edits.append(self._editor.edit(prepared[id(crop)], crop, target.aus, side=target.side))
        return edits


def make_editor(params: ExpressionParams, cache_dir) -> Editor:
    if params.editor == "au_warp":
        return AUWarp(params)
    if params.editor == "mesh_warp":
        return MeshWarp(params)
    from .ganmut_editor import GANmutEditor

    return GANmutEditor(params, cache_dir)
