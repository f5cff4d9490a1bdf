"""The `ganmut` editor at inference: a trained checkpoint, emotion targets as codes on its learned axes."""
from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from components.common import storage
from models.checkpoints import CheckpointError, load_torch_weights

from .au_warp import Edit
from .ganmut_train import build_networks
from .params import ExpressionParams
from .targets import Target, polar_mix


class GANmutEditor:
    name = "ganmut"

    def __init__(self, params: ExpressionParams, cache_dir):
        path = storage.fetch_to_local(params.checkpoint, cache_dir)
        state = load_torch_weights(path, params.checkpoint_sha256)
        if not isinstance(state, dict) or "generator" not in state or "emotions" not in state:
            raise CheckpointError(f"{params.checkpoint}: not a ganmut checkpoint (train one with train-ganmut)")
        self.emotions: list[str] = list(state["emotions"])
        missing = [e for e in params.emotions if e not in self.emotions and e != "neutral"]
        if missing:
            raise ValueError(f"{params.checkpoint}: checkpoint was not trained on {missing} "
                             f"(it knows {self.emotions})")
        if params.au_targets:
            raise ValueError("the ganmut editor renders emotions and polar codes, not AU vectors; use au_warp")
        self.size = int(state["config"]["image_size"])
        self.device = torch.device(params.device)
        self.generator, _ = build_networks(state["config"], self.emotions)
        self.generator.load_state_dict(state["generator"])
        self.generator.eval().to(self.device)
        self.batch_size = params.batch_size

    def code(self, target: Target) -> torch.Tensor:
        axes = self.generator.axes.unit().detach()
        if target.kind == "polar":
            first, second, t = polar_mix(target.theta)
            for e in (first, second):
                if e not in self.emotions:
                    raise ValueError(f"polar target {target.code} needs {e!r}, which the checkpoint lacks")
            mixed = (1 - t) * axes[self.emotions.index(first)] + t * axes[self.emotions.index(second)]
            return F.normalize(mixed, dim=0) * target.rho
        if target.emotion == "neutral" or target.intensity == 0:
            return torch.zeros(2)
        return axes[self.emotions.index(target.emotion)] * target.intensity

    @torch.no_grad()
    def edit_batch(self, crops, landmarks, targets):
        edits = []
        for start in range(0, len(crops), self.batch_size):
            chunk = crops[start:start + self.batch_size]
            small = np.stack([cv2.resize(c, (self.size, self.size), interpolation=cv2.INTER_AREA) for c in chunk])
            x = torch.from_numpy(small).permute(0, 3, 1, 2).float().to(self.device) / 127.5 - 1.0
            codes = torch.stack([self.code(t) for t in targets[start:start + self.batch_size]]).to(self.device)
            out, _ = self.generator(x, codes)
            delta = (out - x).permute(0, 2, 3, 1).cpu().numpy() * 127.5
            for crop, d, lm in zip(chunk, delta, landmarks[start:start + self.batch_size]):
                # Add the upsampled change to the full-resolution crop: untouched areas keep their detail.
                up = cv2.resize(d, (crop.shape[1], crop.shape[0]), interpolation=cv2.INTER_CUBIC)
                edits.append(Edit(np.clip(crop + up + 0.5, 0, 255).astype(np.uint8), lm.copy()))
        return edits
