"""Loading weights without executing code from the file.

- Torch files: `torch.load(..., weights_only=True)` only.
- StyleGAN2-ADA / StyleGAN3 `.pkl` files embed Python source for their classes and
  rebuild objects by running it. `load_stylegan_pickle` reads them with an
  unpickler that resolves only an allow-list of globals; the persistent-class
  hook is replaced by one that keeps the pickled object state (tensors and
  hyper-parameters) and never looks at the embedded source. Numpy scalars (the
  official layers keep e.g. `weight_gain = 1 / np.sqrt(...)` as float64) come back
  as plain Python numbers through a reconstructor of our own. Any other global, such
  as `os.system` or `builtins.eval`, is refused with an error that names it.
"""
from __future__ import annotations

import collections
import hashlib
import io
import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch


class CheckpointError(ValueError):
    pass


def sha256_of(path: str | Path) -> str:
    if not Path(path).is_file():
        raise CheckpointError(f"{path}: weights file not found")
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_checksum(path: str | Path, expected_sha256: str | None) -> None:
    if expected_sha256:
        actual = sha256_of(path)
        if actual.lower() != expected_sha256.lower():
            raise CheckpointError(f"{path}: sha256 {actual} does not match the expected {expected_sha256}")


def load_torch_weights(path: str | Path, expected_sha256: str | None = None) -> Any:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: weights file not found")
    verify_checksum(path, expected_sha256)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        refused = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        reason = f"refused global {refused.group(1)}" if refused else str(exc).splitlines()[0]
        raise CheckpointError(f"{path}: refused, not a plain weights file ({reason})") from None
    except (RuntimeError, EOFError, ValueError) as exc:
        raise CheckpointError(f"{path}: cannot read weights ({str(exc).splitlines()[0]})") from None


class PersistentObject:
    """What a StyleGAN persistent class instance unpickles to: its class name and pickled state."""

    def __init__(self, class_name: str, state: dict):
        self.class_name = class_name
        self.state = state

    def __repr__(self) -> str:
        return f"PersistentObject({self.class_name})"


def _reconstruct_persistent_obj(meta: dict) -> PersistentObject:
    # The official hook execs meta['module_src']; we read only the class name and state.
    if not isinstance(meta, dict) or meta.get("type") != "class":
        raise CheckpointError(f"unexpected persistent object record {type(meta).__name__}")
    state = meta.get("state") or {}
    if not isinstance(state, dict):
        raise CheckpointError("persistent object state is not a dict")
    return PersistentObject(str(meta.get("class_name")), state)


def _load_storage_from_bytes(data: bytes):
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


class _EasyDict(dict):
    """Stand-in for dnnlib.util.EasyDict: a plain dict that accepts attribute state."""

    def __setstate__(self, state):
        if isinstance(state, dict):
            self.update(state)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    return torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
                                           collections.OrderedDict())


def _rebuild_parameter(data, requires_grad, backward_hooks=None):
    return torch.nn.Parameter(data, requires_grad)


def _rebuild_parameter_with_state(data, requires_grad, backward_hooks=None, state=None):
    return torch.nn.Parameter(data, requires_grad)


# Numeric kinds only: an object dtype would let `scalar` hand back arbitrary pickled objects.
_NUMERIC_KINDS = "biufc"


def _numpy_dtype(spec, align=False, copy=True) -> np.dtype:
    """Stand-in for numpy.dtype in a pickle: numeric dtypes only (the pickle then sets its byte order)."""
    if not isinstance(spec, str):
        raise CheckpointError(f"numpy dtype spec {type(spec).__name__} refused (only a type code string)")
    dtype = np.dtype(spec, align=False, copy=True)  # a copy: the BUILD that follows must not touch numpy's own
    if dtype.kind not in _NUMERIC_KINDS or dtype.fields is not None:
        raise CheckpointError(f"numpy dtype {spec!r} refused (only numeric scalars)")
    return dtype


def _numpy_scalar(dtype, data=None) -> int | float | complex | bool:
    """Stand-in for numpy.core.multiarray.scalar: the raw bytes of one number -> a plain Python number."""
    if not isinstance(dtype, np.dtype) or dtype.kind not in _NUMERIC_KINDS or dtype.fields is not None:
        raise CheckpointError(f"numpy scalar of dtype {dtype!r} refused (only numeric scalars)")
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise CheckpointError(f"numpy scalar of dtype {dtype} has {type(data).__name__} data, "
                              f"not {dtype.itemsize} bytes")
    return np.frombuffer(data, dtype=dtype)[0].item()


_ALLOWED = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("dnnlib.util", "EasyDict"): _EasyDict,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter_with_state,
    ("torch.storage", "_load_from_bytes"): _load_storage_from_bytes,
    ("torch", "device"): torch.device,
    ("numpy", "dtype"): _numpy_dtype,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,  # the numpy 2 spelling
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        target = _ALLOWED.get((module, name))
        if target is None and module == "torch" and name.endswith("Storage"):
            target = getattr(torch, name, None)  # typed storages carry no code
        if target is None:
            raise CheckpointError(f"refused to load global {module}.{name}: not on the allow-list of "
                                  "weight containers (the file may try to run code)")
        return target


def load_stylegan_pickle(path: str | Path, expected_sha256: str | None = None) -> dict[str, Any]:
    """Read an official StyleGAN2-ADA/StyleGAN3 pickle into {'G_ema': PersistentObject, ...}."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: pickle not found")
    verify_checksum(path, expected_sha256)
    try:
        with path.open("rb") as fh:
            data = _RestrictedUnpickler(fh).load()
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    except (pickle.UnpicklingError, EOFError, AttributeError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: not a readable StyleGAN pickle ({exc})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a dict of networks, got {type(data).__name__}")
    return data


def persistent_state_dict(obj: PersistentObject, prefix: str = "") -> dict[str, torch.Tensor]:
    """Flatten a persistent module tree into a state_dict: parameters and persistent buffers."""
    out: dict[str, torch.Tensor] = {}
    state = obj.state
    for name, value in (state.get("_parameters") or {}).items():
        if value is not None:
            out[prefix + name] = value.detach()
    skip = set(state.get("_non_persistent_buffers_set") or ())
    for name, value in (state.get("_buffers") or {}).items():
        if value is not None and name not in skip:
            out[prefix + name] = value
    for name, child in (state.get("_modules") or {}).items():
        if isinstance(child, PersistentObject):
            out.update(persistent_state_dict(child, f"{prefix}{name}."))
        elif child is not None:
            raise CheckpointError(f"submodule {prefix}{name} is a {type(child).__name__}, not a network record")
    return out
