"""Triton model repositories written by the export stage, and their embedded (CPU) form.

Production Triton (the NGC image) serves `<name>/config.pbtxt` with `platform: "onnxruntime_onnx"`
straight from the bucket. The Triton binary that ships in nvidia-pytriton has only the Python
backend, so the embedded server gets a copy of the same repository whose config names
`backend: "python"` and whose version folders hold `model.py` (components/serve/triton_model.py,
an onnxruntime session) beside the unchanged model.onnx: same names, shapes, batching and
parameters, hence the same KServe v2 API for clients.
"""
from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from components.common import storage

PYTHON_MODEL = Path(__file__).with_name("triton_model.py")
_PLATFORM = re.compile(r'^\s*(platform:\s*"onnxruntime_onnx"|backend:\s*"onnxruntime")\s*$', re.MULTILINE)
_GPU_GROUP = re.compile(r"kind:\s*KIND_GPU")


class RepositoryError(ValueError):
    """A model repository that cannot be served; the message names the path and the reason."""


@dataclass(frozen=True)
class ServedModel:
    name: str
    versions: tuple[int, ...]


def inspect(root: Path) -> list[ServedModel]:
    """The ONNX models of a local repository, checked the way Triton would load them."""
    if not root.is_dir():
        raise RepositoryError(f"{root}: model repository not found")
    models = []
    for config in sorted(root.glob("*/config.pbtxt")):
        folder = config.parent
        versions = tuple(sorted(int(v.name) for v in folder.iterdir() if v.is_dir() and v.name.isdigit()))
        if not versions:
            raise RepositoryError(f"{folder}: no numeric version folder (expected {folder}/1/model.onnx)")
        for version in versions:
            onnx_path = folder / str(version) / "model.onnx"
            if not onnx_path.is_file() or onnx_path.stat().st_size == 0:
                raise RepositoryError(f"{onnx_path}: missing or empty")
        if not _PLATFORM.search(config.read_text()):
            raise RepositoryError(f"{config}: not an ONNX Runtime model (platform \"onnxruntime_onnx\" expected)")
        models.append(ServedModel(folder.name, versions))
    if not models:
        raise RepositoryError(f"{root}: no <model>/config.pbtxt found; point at the export stage's output")
    return models


def fetch(source: str, workdir: Path) -> Path:
    """A local path to the repository at `source` (a folder, file:// or s3:// prefix)."""
    if storage.parse_uri(source).scheme == "s3":
        target = workdir / "source"
        storage.download_dir(source, target)
        return target
    return Path(storage.parse_uri(source).key)


def embedded_copy(root: Path, target: Path) -> list[ServedModel]:
    """Write the Python-backend twin of repository `root` into `target` (replaced if present)."""
    models = inspect(root)
    if target.exists():
        shutil.rmtree(target)
    for model in models:
        src, dst = root / model.name, target / model.name
        dst.mkdir(parents=True)
        config = _PLATFORM.sub('backend: "python"', (src / "config.pbtxt").read_text(), count=1)
        # The embedded server runs on the CPU; GPU instance groups are for the production chart.
        (dst / "config.pbtxt").write_text(_GPU_GROUP.sub("kind: KIND_CPU", config))
        for extra in src.iterdir():
            if extra.is_file() and extra.name != "config.pbtxt":
                shutil.copy2(extra, dst / extra.name)
        for version in model.versions:
            (dst / str(version)).mkdir()
            _link_or_copy(src / str(version) / "model.onnx", dst / str(version) / "model.onnx")
            shutil.copy2(PYTHON_MODEL, dst / str(version) / "model.py")
    return models


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)  # model files can be large: share the bytes when on one filesystem
    except OSError:
        shutil.copy2(src, dst)
