"""Parameters of the train stage (the one source for CLI flags, YAML and KFP)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from components.common.config import StageParams


class TrainParams(StageParams):
    model: Literal["compact_cnn", "simple_cnn", "resnet18"] = Field(
        "compact_cnn", description="classifier: compact_cnn (4 conv stages + global pooling), simple_cnn (the "
                                   "Grenoble paper's table 1, + batch norm) or resnet18")
    task: Literal["emotion", "au"] = Field("emotion", description="softmax over emotions, or multi-label AUs")
    classes: list[str] = Field(["neutral", "happy", "sad", "surprise", "fear", "disgust", "anger"],
                               description="emotion classes (their order is the model's output order)")
    au_units: list[int] = Field([1, 2, 4, 6, 12, 15, 26], description="AU outputs for task 'au'")
    au_threshold: float = Field(0.25, ge=0.0, description="AU intensity that counts as present")
    real: list[str] = Field([], description="real datasets mixed in, as FORMAT:PATH (folder, rafdb, fer2013, "
                                             "affectnet, fersynth)")
    synthetic_ratio: float = Field(1.0, ge=0.0, le=50.0,
                                   description="k: synthetic identities per real identity (all synthetic without real)")
    image_size: int | None = Field(None, ge=16, le=512,
                                   description="input size (default: 64 compact_cnn and simple_cnn, 112 resnet18)")
    weights: str | None = Field(None, description="resnet18: initial backbone weights (state_dict path or s3:// URI)")
    weights_sha256: str | None = Field(None, description="expected sha256 of the weights file")
    epochs: int = Field(20, ge=1, le=1000, description="most epochs")
    patience: int = Field(5, ge=1, description="early stopping: epochs without validation improvement")
    batch_size: int = Field(64, ge=2, le=4096, description="images per step")
    optimizer: Literal["adamw", "adam"] = Field("adamw", description="optimizer")
    lr: float = Field(2e-3, gt=0, le=1.0, description="peak learning rate (one-cycle schedule over all steps)")
    weight_decay: float = Field(1e-4, ge=0, description="weight decay")
    input_norm: Literal["dataset", "per_image", "equalised"] = Field(
        "dataset", description="input normalisation: the model's fixed mean/std; each image to zero mean and "
                               "unit variance (robust to a photo's exposure and contrast); or equalised, local "
                               "histogram equalisation (CLAHE) first, then per image (robust to local contrast)")
    augment: Literal["none", "flip", "full", "sharpness"] = Field(
        "flip", description="training augmentation: none, flip, full (flip, random resized crop, erasing), or "
                            "sharpness (flip, each face randomly blurred or sharpened, a little noise)")
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0, description="cross-entropy label smoothing")
    mixup: float = Field(0.0, ge=0.0, le=10.0,
                         description="mixup: blend each batch with itself shuffled, by a share drawn from "
                                     "Beta(mixup, mixup), and the loss by the same share (e.g. 0.2); 0: off")
    ema_decay: float = Field(0.0, ge=0.0, lt=1.0,
                             description="validate, keep and export an exponential moving average of the weights "
                                         "(decay per step, e.g. 0.99); 0: the weights as trained")
    ensemble: int = Field(1, ge=1, le=16, description="networks trained on the same split from different "
                                                      "initialisations and batch orders; the model answers with "
                                                      "the mean of their outputs (each one costs a training)")
    mirror_average: bool = Field(True, description="the trained model answers with the mean of its outputs for "
                                                   "the face and its mirror image (evaluate, bias and the exported "
                                                   "ONNX model alike)")
    batching: Literal["random", "identity", "balanced"] = Field(
        "random", description="shuffled batches, batches of whole identities (all their expressions together), "
                              "or class-balanced sampling")
    val_fraction: float = Field(0.15, ge=0.0, lt=0.5, description="identities held out for validation")
    test_fraction: float = Field(0.17, ge=0.0, lt=0.5, description="identities held out for testing (17% as the paper)")
    seed: int = Field(0, description="seed for splits, initialisation and sampling")
    device: str = Field("cpu", description="torch device; AMP is used on CUDA")

    @model_validator(mode="before")
    @classmethod
    def _legacy_balance(cls, data):
        # model.pt files from before `batching` carry `balance: bool`; they must still evaluate and export.
        if isinstance(data, dict) and "balance" in data:
            data = dict(data)
            balance = data.pop("balance")
            data.setdefault("batching", "balanced" if balance else "random")
        return data

    @field_validator("augment", mode="before")
    @classmethod
    def _augment_flag(cls, value):
        return {True: "full", False: "none"}.get(value, value) if isinstance(value, bool) else value

    @model_validator(mode="after")
    def _check(self) -> "TrainParams":
        from components.common.facs import EMOTIONS

        unknown = [c for c in self.classes if c not in EMOTIONS]
        if unknown or len(set(self.classes)) != len(self.classes) or len(self.classes) < 2:
            raise ValueError(f"classes must be >= 2 distinct emotions of {EMOTIONS}; bad: {unknown}")
        return self
