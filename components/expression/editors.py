"""Expression editors behind one interface: edit_batch(crops, landmarks, targets) -> edits."""
from __future__ import annotations

from typing import Protocol

import numpy as np

from .au_warp import AUWarpEditor, Edit
from .params import ExpressionParams
from .targets import Target


class Editor(Protocol):
    name: str

    def edit_batch(self, crops: list[np.ndarray], landmarks: list[np.ndarray], targets: list[Target]) -> list[Edit]:
        ...


class AUWarp:
    name = "au_warp"

    def __init__(self, params: ExpressionParams):
        self._editor = AUWarpEditor(strength=params.strength, appearance=params.appearance)

    def edit_batch(self, crops, landmarks, targets):
        return [self._editor.edit(c, lm, t.aus) for c, lm, t in zip(crops, landmarks, targets)]


def make_editor(params: ExpressionParams, cache_dir) -> Editor:
    if params.editor == "au_warp":
        return AUWarp(params)
    from .ganmut_editor import GANmutEditor

    return GANmutEditor(params, cache_dir)
