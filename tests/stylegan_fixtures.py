"""Builds StyleGAN2-ADA pickles in the official persistence layout, for loader tests.

An official pickle stores each network as a call to
torch_utils.persistence._reconstruct_persistent_obj(meta), where meta holds the
class source code (executed by the official loader), the class name and the
object's __dict__ (parameters, buffers, submodules, hyper-parameters). We mirror
that layout from our own modules, with source code that would leave a marker file
if anything ever executed it.
"""
from __future__ import annotations

import collections
import pickle
import sys
import types
from pathlib import Path

from torch import nn


def _reconstruct_persistent_obj(meta):  # pragma: no cover - must never run during a load
    raise AssertionError("the official reconstruct hook was called")


class EasyDict(dict):
    pass


class _Record:
    def __init__(self, module: nn.Module, class_name: str, marker: Path):
        self.module, self.class_name, self.marker = module, class_name, marker

    def __reduce__(self):
        state = {
            "training": False,
            "_parameters": collections.OrderedDict(self.module._parameters),
            "_buffers": collections.OrderedDict(self.module._buffers),
            "_non_persistent_buffers_set": set(),
            "_modules": collections.OrderedDict(
                (name, _Record(child, type(child).__name__, self.marker))
                for name, child in self.module._modules.items()),
        }
        for key in ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "conv_clamp", "in_channels"):
            if hasattr(self.module, key):
                state[key] = getattr(self.module, key)
        if self.class_name == "SynthesisBlock":
            state["architecture"] = "skip"
        meta = dict(type="class", version=6, class_name=f"training.networks.{self.class_name}", state=state,
                    module_src=f"open({str(self.marker)!r}, 'w').write('executed')\n")
        return (_reconstruct_persistent_obj, (meta,))


def write_official_pickle(generator: nn.Module, path: Path, marker: Path) -> None:
    """Write {'G', 'D', 'G_ema', 'augment_pipe', 'training_set_kwargs'} as the official training loop does."""
    fake = {"torch_utils": types.ModuleType("torch_utils"),
            "torch_utils.persistence": types.ModuleType("torch_utils.persistence"),
            "dnnlib": types.ModuleType("dnnlib"), "dnnlib.util": types.ModuleType("dnnlib.util")}
    fake["torch_utils.persistence"]._reconstruct_persistent_obj = _reconstruct_persistent_obj
    fake["dnnlib.util"].EasyDict = EasyDict
    saved = (_reconstruct_persistent_obj.__module__, EasyDict.__module__)
    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    EasyDict.__module__ = "dnnlib.util"
    sys.modules.update(fake)
    try:
        data = {"G": _Record(generator, "Generator", marker), "D": None,
                "G_ema": _Record(generator, "Generator", marker), "augment_pipe": None,
                "training_set_kwargs": EasyDict(resolution=generator.img_resolution, xflip=False)}
        with open(path, "wb") as fh:
            pickle.dump(data, fh)
    finally:
        for name in fake:
            sys.modules.pop(name, None)
        _reconstruct_persistent_obj.__module__, EasyDict.__module__ = saved
