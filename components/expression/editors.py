"""Expression editors behind one interface: edit_batch(crops, landmarks, targets) -> edits."""
from __future__ import annotations

from typing import Protocol

import numpy as np

from .au_warp import AUWarpEditor, Edit
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
    name = "au_warp"

    def __init__(self, params: ExpressionParams):
        self._editor = AUWarpEditor(strength=params.strength, appearance=params.appearance)

    def edit_batch(self, crops, landmarks, targets):
        return [self._editor.edit(c, lm, t.aus, side=t.side) for c, lm, t in zip(crops, landmarks, targets)]


class MeshWarp:
    """Prepares each distinct face once (mesh, pose, fits), then edits it for every target."""
    name = "mesh_warp"

    def __init__(self, params: ExpressionParams):
        from .mesh_ratio import load_nose_wrinkles
        from .mesh_warp import MeshWarpEditor

        wrinkles = load_nose_wrinkles(params.nose_wrinkles) if params.appearance else ()
        self._editor = MeshWarpEditor(strength=params.strength, appearance=params.appearance, nose_wrinkles=wrinkles)

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
