"""Writes StyleGAN2-ADA snapshot pickles opcode by opcode, in the format NVlabs' training loop saves.

A snapshot is `pickle.dump(dict(training_set_kwargs=EasyDict(...), G=..., D=..., G_ema=...,
augment_pipe=...))`. Every network in it is a persistent-class record: a call to
`torch_utils.persistence._reconstruct_persistent_obj(meta)`, meta = {type: 'class', version: 6,
module_src: <the class's module source>, class_name: <bare class name>, state: <the module's
__dict__>}. That __dict__ holds torch's containers (OrderedDicts of parameters, buffers, hooks and
submodules), the constructor's arguments and the layers' hyper-parameters. The layers keep gains such
as `weight_gain = 1 / np.sqrt(fan_in)` as numpy float64, which pickle writes as
`numpy.core.multiarray.scalar(numpy.dtype('f8', False, True) + BUILD state, <8 raw bytes>)`.

No code of NVlabs' is needed: the records, numpy scalars, EasyDicts and globals are emitted here as
opcodes; tensors are written by torch's own reducers, exactly as `pickle.dump` writes them in a real
snapshot. The embedded module source would leave a marker file if anything ever executed it.
"""
from __future__ import annotations

import collections
import math
import pickle
import struct
from pathlib import Path

import torch
from torch import nn

NUMPY1 = "numpy.core.multiarray"
NUMPY2 = "numpy._core.multiarray"


class NumpyFloat64:
    """A numpy float64 attribute, as `np.sqrt(...)` leaves it."""

    def __init__(self, value: float):
        self.value = float(value)


class Record:
    """A persistent-class instance: its bare class name and its __dict__."""

    def __init__(self, class_name: str, state: dict, module_src: str):
        self.class_name, self.state, self.module_src = class_name, state, module_src


class EasyDict(dict):
    """dnnlib.util.EasyDict as pickle sees it: a dict subclass with no instance attributes."""


class SnapshotPickler(pickle._Pickler):
    """Protocol 4 pickler that writes the records above with the globals a genuine snapshot names.

    `swap` replaces a global by another (module, name), to make hostile variants of a good file.
    """

    dispatch = dict(pickle._Pickler.dispatch)

    def __init__(self, file, numpy_module: str = NUMPY1, swap: dict | None = None):
        super().__init__(file, protocol=4)
        self.numpy_module = numpy_module
        self.swap = swap or {}
        self._dtype_memo: int | None = None
        self._global_memo: dict[tuple[str, str], int] = {}

    def save_global_name(self, module: str, name: str) -> None:
        """A global: written once, then fetched from the memo, as pickle does for a module attribute."""
        module, name = self.swap.get((module, name), (module, name))
        if (module, name) in self._global_memo:
            self.write(self.get(self._global_memo[module, name]))
            return
        self.save(module)
        self.save(name)
        self.write(pickle.STACK_GLOBAL)
        key = object()  # the memo keeps it alive, so ids stay unique
        self.memoize(key)
        self._global_memo[module, name] = self.memo[id(key)][0]

    def _save_record(self, obj: Record) -> None:
        self.save_global_name("torch_utils.persistence", "_reconstruct_persistent_obj")
        meta = dict(type="class", version=6, module_src=obj.module_src, class_name=obj.class_name,
                    state=obj.state)
        self.save((meta,))
        self.write(pickle.REDUCE)
        self.memoize(obj)

    def _save_float64(self, obj: NumpyFloat64) -> None:
        self.save_global_name(self.numpy_module, "scalar")
        if self._dtype_memo is None:  # numpy's float64 dtype is one object: written once, then fetched
            self.save_global_name("numpy", "dtype")
            self.save(("f8", False, True))
            self.write(pickle.REDUCE)
            dtype_key = object()
            self.memoize(dtype_key)
            self._dtype_memo = self.memo[id(dtype_key)][0]
            self.save((3, "<", None, None, None, -1, -1, 0))
            self.write(pickle.BUILD)
        else:
            self.write(self.get(self._dtype_memo))
        self.save(struct.pack("<d", obj.value))
        self.write(pickle.TUPLE2)
        self.write(pickle.REDUCE)
        self.memoize(obj)

    def _save_easydict(self, obj: EasyDict) -> None:
        # What copyreg.__reduce_ex__ gives a dict subclass under protocol 4: NEWOBJ, then SETITEMS.
        self.save_global_name("dnnlib.util", "EasyDict")
        self.write(pickle.EMPTY_TUPLE)
        self.write(pickle.NEWOBJ)
        self.memoize(obj)
        self._batch_setitems(iter(obj.items()))

    dispatch[Record] = _save_record
    dispatch[NumpyFloat64] = _save_float64
    dispatch[EasyDict] = _save_easydict


def _module_state(module: nn.Module, children: dict, attributes: dict, init_kwargs: dict) -> dict:
    """The __dict__ of a torch module as NVlabs' networks carry it (torch 1.x-2.x container names)."""
    hooks = ("_backward_pre_hooks", "_backward_hooks", "_forward_hooks", "_forward_hooks_with_kwargs",
             "_forward_hooks_always_called", "_forward_pre_hooks", "_forward_pre_hooks_with_kwargs",
             "_state_dict_hooks", "_state_dict_pre_hooks", "_load_state_dict_pre_hooks",
             "_load_state_dict_post_hooks")
    state = {"training": False,
             "_parameters": collections.OrderedDict(
                 (k, None if v is None else nn.Parameter(v.detach().clone(), requires_grad=False))
                 for k, v in module._parameters.items()),
             "_buffers": collections.OrderedDict(module._buffers),
             "_non_persistent_buffers_set": set(),
             "_is_full_backward_hook": None,
             "_modules": collections.OrderedDict(children)}
    state.update({name: collections.OrderedDict() for name in hooks})
    state.update(_init_args=(), _init_kwargs=init_kwargs)
    state.update(attributes)
    return state


def _layer_attributes(module: nn.Module) -> dict:
    """Hyper-parameters NVlabs' layers keep, gains as numpy float64 as they compute them."""
    name = type(module).__name__
    if name == "FullyConnectedLayer":
        in_features = module.weight.shape[1]
        lr = module.bias_gain
        return dict(activation="lrelu" if module.lrelu else "linear", in_features=in_features,
                    out_features=module.weight.shape[0], lr_multiplier=lr,
                    weight_gain=NumpyFloat64(lr / math.sqrt(in_features)), bias_gain=lr)
    if name == "SynthesisLayer":
        return dict(resolution=module.resolution, up=module.up, use_noise=True, activation="lrelu",
                    conv_clamp=module.conv_clamp, padding=1, act_gain=NumpyFloat64(math.sqrt(2)))
    if name == "ToRGBLayer":
        return dict(conv_clamp=module.conv_clamp, weight_gain=NumpyFloat64(1 / math.sqrt(module.weight.shape[1])))
    if name == "SynthesisBlock":
        return dict(in_channels=module.in_channels, resolution=module.resolution, architecture="skip",
                    use_fp16=module.use_fp16, channels_last=False, is_last=module.is_last,
                    num_conv=module.num_conv, num_torgb=module.num_torgb)
    if name == "SynthesisNetwork":
        return dict(w_dim=module.w_dim, img_resolution=module.img_resolution, img_channels=module.img_channels,
                    img_resolution_log2=int(math.log2(module.img_resolution)),
                    block_resolutions=list(module.block_resolutions), num_ws=module.num_ws,
                    num_fp16_res=module.num_fp16_res)
    if name == "MappingNetwork":
        return dict(z_dim=module.z_dim, c_dim=module.c_dim, w_dim=module.w_dim, num_ws=module.num_ws,
                    num_layers=module.num_layers, w_avg_beta=0.995)
    if name == "StyleGAN2Generator":
        return dict(z_dim=module.z_dim, c_dim=module.c_dim, w_dim=module.w_dim, img_resolution=module.img_resolution,
                    img_channels=module.img_channels, num_ws=module.num_ws)
    return {}


def network_record(module: nn.Module, marker: Path, class_name: str | None = None) -> Record:
    """A persistent record of one of our modules under NVlabs' class names (Generator for ours)."""
    own = type(module).__name__
    class_name = class_name or {"StyleGAN2Generator": "Generator"}.get(own, own)
    children = {name: network_record(child, marker) for name, child in module._modules.items()}
    attributes = _layer_attributes(module)
    init_kwargs = {k: v for k, v in attributes.items() if not isinstance(v, NumpyFloat64)}
    return Record(class_name, _module_state(module, children, attributes, init_kwargs),
                  module_src=f"open({str(marker)!r}, 'w').write('executed')\n")


def discriminator_record(marker: Path) -> Record:
    """A small discriminator-shaped record: conv weights and numpy gains, as a snapshot's D holds."""
    conv = nn.Conv2d(3, 8, 3)
    fc = nn.Linear(8, 1)
    layers = {"b4": Record("DiscriminatorBlock", _module_state(
        conv, {}, dict(weight_gain=NumpyFloat64(1 / math.sqrt(27)), act_gain=NumpyFloat64(math.sqrt(2)),
                       conv_clamp=256), {}), module_src=f"open({str(marker)!r}, 'w').write('executed')\n"),
              "out": Record("FullyConnectedLayer", _module_state(
                  fc, {}, dict(weight_gain=NumpyFloat64(1 / math.sqrt(8)), bias_gain=1), {}),
                  module_src="raise SystemExit('executed')\n")}
    return Record("Discriminator", _module_state(nn.Module(), layers, dict(c_dim=0, img_channels=3), {}),
                  module_src=f"open({str(marker)!r}, 'w').write('executed')\n")


def augment_pipe_record(marker: Path) -> Record:
    pipe = nn.Module()
    pipe.register_buffer("p", torch.tensor(0.2))
    pipe.register_buffer("Hz_geom", torch.randn(12))
    return Record("AugmentPipe", _module_state(pipe, {}, dict(xflip=1.0, rotate90=1.0, xint_max=0.125,
                                                              scale_std=NumpyFloat64(0.2)), {}),
                  module_src=f"open({str(marker)!r}, 'w').write('executed')\n")


def write_snapshot(path: Path, g_ema: nn.Module, marker: Path, g: nn.Module | None = None,
                   numpy_module: str = NUMPY1, swap: dict | None = None) -> None:
    """Write `network-snapshot-*.pkl` as stylegan2-ada-pytorch's training loop saves it."""
    data = {"training_set_kwargs": EasyDict(class_name="training.dataset.ImageFolderDataset",
                                            path="/data/faces.zip", use_labels=bool(g_ema.c_dim),
                                            max_size=70000, xflip=False, resolution=g_ema.img_resolution),
            "G": network_record(g if g is not None else g_ema, marker),
            "D": discriminator_record(marker),
            "G_ema": network_record(g_ema, marker),
            "augment_pipe": augment_pipe_record(marker)}
    with open(path, "wb") as fh:
        SnapshotPickler(fh, numpy_module=numpy_module, swap=swap).dump(data)
