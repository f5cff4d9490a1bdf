"""Expression editors behind one interface: edit_batch(crops, landmarks, targets) -> edits."""
from __future__ import annotations

from typing import Protocol

import numpy as np

from .au_warp import AUWarpEditor, Edit
from .mesh_ratio import lay_on_crop, load_forehead_wrinkles, load_nose_wrinkles
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
    """Lays a real face's AU9 creases onto each distinct face once (where its mesh is found), then edits it.
    Its forehead lines stay drawn: at 64 px the classifiers read them better than a real forehead's (README)."""
    name = "au_warp"

    def __init__(self, params: ExpressionParams):
        self._editor = AUWarpEditor(strength=params.strength, appearance=params.appearance)
        self._wrinkles = load_nose_wrinkles(params.nose_wrinkles) if params.appearance else ()

    def edit_batch(self, crops, landmarks, targets):
        laid: dict[int, np.ndarray | None] = {}
        edits = []
        for crop, points, target in zip(crops, landmarks, targets):
            if self._wrinkles and id(crop) not in laid and target.aus.get(9, 0.0) > 0:
                (laid[id(crop)],) = lay_on_crop(crop, self._wrinkles)
            edits.append(self._editor.edit(crop, points, target.aus, side=target.side,
                                           nose_wrinkles=laid.get(id(crop))))
        return edits


class MeshWarp:
    """Prepares each distinct face once (mesh, pose, fits), then edits it for every target."""
    name = "mesh_warp"

    def __init__(self, params: ExpressionParams):
        from .mesh_warp import MeshWarpEditor

        real = params.appearance  # AU9's and AU1/AU2's ratio images, loaded only when they will be laid
        self._editor = MeshWarpEditor(strength=params.strength, appearance=params.appearance,
                                      nose_wrinkles=load_nose_wrinkles(params.nose_wrinkles) if real else (),
                                      forehead_wrinkles=load_forehead_wrinkles(params.forehead_wrinkles) if real else ())

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
