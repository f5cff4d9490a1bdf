"""The export stage: the trained FER model as ONNX, checked against torch, in a Triton repository.

Writes <out>/<name>/config.pbtxt and <out>/<name>/<version>/model.onnx, with a dynamic
batch dimension, the preprocessing spec, class names and training facts in the ONNX
metadata, and parity.json (max |torch - onnxruntime| on real face images of the dataset,
which must stay below the tolerance or the stage fails).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from components.common import storage
from components.common.fer_model import load_trained, trained_alignment
from components.common.fer_preprocess import preprocess
from components.common.imageio import atomic_write_bytes, read_image
from components.common.manifest import read_manifest
from components.common.stage_run import StageRun

from .params import ExportParams

STAGE = "export"
INPUT_NAME, OUTPUT_NAME = "input", "logits"


def serving_parameters(params: ExportParams, spec, labels: list[str], task: str, alignment: dict) -> dict[str, str]:
    """What a client needs to prepare inputs and read outputs, carried in the Triton model config
    (GET /v2/models/<name>/config returns it), so remote clients need nothing but the endpoint."""
    return {"fersynth.task": task, "fersynth.preprocess": spec.to_json(), "fersynth.labels": json.dumps(labels),
            "fersynth.alignment": json.dumps(alignment)}


def triton_config(params: ExportParams, spec, labels: list[str], task: str, alignment: dict) -> str:
    entries = "".join(f"parameters {{ key: {json.dumps(k)} value {{ string_value: {json.dumps(v)} }} }}\n"
                      for k, v in serving_parameters(params, spec, labels, task, alignment).items())
    group = (f"instance_group [{{ count: {params.gpu_instances} kind: KIND_GPU }}]" if params.gpu_instances
             else "instance_group [{ count: 1 kind: KIND_CPU }]")
    return f"""name: "{params.name}"
platform: "onnxruntime_onnx"
max_batch_size: {params.max_batch_size}
input [
  {{
    name: "{INPUT_NAME}"
    data_type: TYPE_FP32
    dims: [ {spec.channels}, {spec.size}, {spec.size} ]
  }}
]
output [
  {{
    name: "{OUTPUT_NAME}"
    data_type: TYPE_FP32
    dims: [ {len(labels)} ]
    label_filename: "labels.txt"
  }}
]
dynamic_batching {{
  preferred_batch_size: [ {max(1, params.max_batch_size // 4)}, {params.max_batch_size} ]
  max_queue_delay_microseconds: 2000
}}
{group}
{entries}"""


def export_onnx(model, spec, path: Path, opset: int, metadata: dict[str, str]) -> None:
    import onnx

    dummy = torch.zeros(2, spec.channels, spec.size, spec.size)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.onnx.export(model, (dummy,), str(tmp), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                      dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}, opset_version=opset,
                      dynamo=False)
    proto = onnx.load(str(tmp))
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    onnx.save(proto, str(tmp))
    tmp.replace(path)


def parity(model, onnx_path: Path, batch: np.ndarray) -> float:
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = model(torch.from_numpy(batch)).numpy()
    got = session.run([OUTPUT_NAME], {INPUT_NAME: batch})[0]
    single = session.run([OUTPUT_NAME], {INPUT_NAME: batch[:1]})[0]  # the batch dimension really is dynamic
    return float(max(np.abs(expected - got).max(), np.abs(expected[:1] - single).max()))


def run(params: ExportParams, in_dir: str | Path, out_dir: str | Path, dataset_dir: str | Path | None = None) -> dict:
    """`in_dir` is the train stage's output; real images for the parity check come from `dataset_dir`
    (default: the dataset recorded by training) or, failing that, the test images of scikit-image."""
    model_dir, out = Path(in_dir), Path(out_dir)
    stage = StageRun(STAGE, params, out)
    telemetry = stage.telemetry
    model, state, spec = load_trained(model_dir)
    model = model.cpu().eval()
    outputs = len(state["classes"]) if state["task"] == "emotion" else len(state["au_units"])
    labels = state["classes"] if state["task"] == "emotion" else [f"AU{a}" for a in state["au_units"]]
    alignment = trained_alignment(state, model_dir)
    metadata = {**serving_parameters(params, spec, labels, state["task"], alignment), "fersynth.model": state["model"],
                "fersynth.best_epoch": str(state.get("epoch")),
                "fersynth.input": "aligned face crop, RGB uint8 -> components.common.fer_preprocess.preprocess"}
    onnx_path = out / params.name / str(params.version) / "model.onnx"
    export_onnx(model, spec, onnx_path, params.opset, metadata)
    faces = []
    if dataset_dir and (Path(dataset_dir) / "manifest.csv").exists():
        rows = read_manifest(dataset_dir)[: params.parity_images]
        faces = [read_image(Path(dataset_dir) / r["path"]) for r in rows]
    if not faces:
        from skimage import data

        faces = [data.astronaut(), data.chelsea(), data.coffee()]
    telemetry.seen(len(faces))
    diff = parity(model, onnx_path, preprocess(faces, spec))
    parity_info = {"max_abs_diff": diff, "tolerance": params.parity_tolerance, "images": len(faces)}
    atomic_write_bytes(out / "parity.json", json.dumps(parity_info, indent=2).encode())
    if diff >= params.parity_tolerance:
        raise RuntimeError(f"ONNX parity check failed: max |torch - onnxruntime| = {diff:.2e} "
                           f">= {params.parity_tolerance:.0e}")
    config = triton_config(params, spec, labels, state["task"], alignment)
    atomic_write_bytes(out / params.name / "config.pbtxt", config.encode())
    atomic_write_bytes(out / params.name / "labels.txt", ("\n".join(labels) + "\n").encode())
    if params.repository:
        storage.upload_dir(out, params.repository)
    counts = {"onnx_bytes": onnx_path.stat().st_size, "parity_max_abs_diff": diff, "outputs": outputs}
    telemetry.produced(len(faces))  # parity images checked; the model is the product
    return stage.finish(counts, model=f"{params.name}/{params.version}/model.onnx", labels=labels)
