"""A trained FER model below the stages: load it from a train output, turn faces into its input
arrays, predict, and the targets a label set gives. Evaluate, bias, export and the benchmarks use
this one place, so they read checkpoints and inputs exactly as training wrote them."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from models.checkpoints import CheckpointError, load_torch_weights
from models.fer import MirrorAveraged, build_model, ensemble_of

from .datasets import Sample
from .fer_preprocess import PreprocessSpec, preprocess


def load_trained(model_dir: Path, device: str = "cpu"):
    """(model, checkpoint metadata, preprocessing spec) from a train stage output, without running code."""
    state = load_torch_weights(Path(model_dir) / "model.pt")
    if not isinstance(state, dict) or "model_state" not in state:
        raise CheckpointError(f"{Path(model_dir) / 'model.pt'}: not a fersynth FER checkpoint")
    spec = PreprocessSpec.from_json(state["preprocess"])
    outputs = len(state["classes"]) if state["task"] == "emotion" else len(state["au_units"])
    nets = []
    for weights in state.get("member_states") or [state["model_state"]]:  # an ensemble holds each member's
        net = build_model(state["model"], outputs, spec.channels, spec.size)
        net.load_state_dict(weights)
        nets.append(net)
    model = ensemble_of(nets)
    if state.get("mirror_average"):  # checkpoints from before the option answer as trained
        model = MirrorAveraged(model)
    return model.eval().to(device), state, spec


def trained_alignment(state: dict, model_dir: Path | str) -> dict:
    """The face alignment ({size, padding}) the model was trained on, as train read it from its data."""
    if not state.get("alignment"):
        raise CheckpointError(f"{Path(model_dir) / 'model.pt'}: records no face alignment (it predates fersynth "
                              "recording it); retrain it, so that new faces are aligned as its training faces were")
    return json.loads(state["alignment"])


def load_arrays(samples: list[Sample], spec: PreprocessSpec) -> tuple[np.ndarray, list[int], list[str]]:
    """Preprocess every sample once: (N, C, S, S) float32, the indices kept and the problems of the rest.
    Memory is N x C x S x S x 4 bytes (10k grey 64 px faces: 160 MB)."""
    from components.common.imageio import ImageError
    from components.common.telemetry import progress

    arrays, kept, problems = [], [], []
    for i, sample in enumerate(progress(samples, desc="load faces")):
        try:
            arrays.append(preprocess([sample.image()], spec)[0])
            kept.append(i)
        except (ImageError, OSError) as exc:
            problems.append(str(exc))
    empty = np.zeros((0, spec.channels, spec.size, spec.size), np.float32)
    return (np.stack(arrays) if arrays else empty), kept, problems


@torch.no_grad()
def predict(model, arrays: np.ndarray, device, batch: int = 256) -> np.ndarray:
    model.eval()
    outs = []
    for start in range(0, len(arrays), batch):
        outs.append(model(torch.from_numpy(arrays[start:start + batch]).to(device)).float().cpu().numpy())
    return np.concatenate(outs) if outs else np.zeros((0, 0))


def targets_for(samples: list[Sample], task: str, classes: list[str], au_units: list[int],
                au_threshold: float) -> np.ndarray:
    """Class indices (emotion task) or 0/1 AU presence rows (au task) for the samples' labels."""
    if task == "emotion":
        return np.array([classes.index(s.label) for s in samples], dtype=np.int64)
    return np.array([[float((s.aus or {}).get(str(a), 0.0)) >= au_threshold for a in au_units]
                     for s in samples], dtype=np.float32)
