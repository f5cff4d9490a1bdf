"""Parameters of the expression stage (the one source for CLI flags, YAML and KFP)."""
from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from components.common.config import StageParams

from .targets import EMOTIONS, parse_aus


class ExpressionParams(StageParams):
    not_in_output: ClassVar[frozenset[str]] = frozenset({"workers"})
    editor: Literal["mesh_warp", "au_warp", "ganmut"] = Field(
        "mesh_warp", description="how expressions are put on faces: mesh_warp (478-point mesh, photographic), "
        "au_warp (the older 68-point editor with drawn texture), ganmut (a trained GAN)")
    also_editors: list[Literal["mesh_warp", "au_warp"]] = Field(
        [], description="further warp editors: every identity is also edited by each of these, so that a "
        "classifier trained on the data learns the expressions rather than one editor's rendering of them")
    emotions: list[str] = Field(["neutral", "happy", "sad", "surprise", "fear", "disgust", "anger"],
                                description="emotions every identity gets (balanced plan)")
    polar_thetas: list[float] = Field([], description="extra GANmut-style targets: angles in degrees")
    au_targets: list[dict[str, float]] = Field([], description="extra explicit AU vectors, e.g. {\"AU12\": 1}")
    variants: bool = Field(False, description="draw each emotion among its EMFACS prototypes (e.g. anger with "
                           "lips pressed as well as the open, squared mouth), one per identity and repeat")
    intensity_min: float = Field(0.6, ge=0.0, le=2.0, description="lowest drawn intensity (or polar rho)")
    intensity_max: float = Field(1.0, ge=0.0, le=2.0, description="highest drawn intensity (or polar rho)")
    repeats: int = Field(1, ge=1, le=20, description="intensities drawn per identity and emotion")
    max_identities: int | None = Field(None, ge=1, description="use at most this many identities")
    strength: float = Field(1.0, ge=0.0, le=3.0, description="warp editors: scale of every AU move and layer")
    appearance: bool = Field(True, description="warp editors: add appearance (folds; au_warp: drawn furrows)")
    nose_wrinkles: str = Field("emopy", description="warp editors: where AU9's fine creases come from: emopy (ratio "
                               "images of the CK+ disgust frames in the EmoPy package), none (au_warp draws them), "
                               "or a folder (path or s3:// prefix) of <name>_neutral.png / <name>_apex.png pairs, "
                               "one person each")
    forehead_wrinkles: str = Field("ravdess", description="mesh_warp: where AU1/AU2's forehead lines come from: "
                                   "ravdess (a ratio image of a RAVDESS clip in the pyfame package), none, or a "
                                   "folder (path or s3:// prefix) of <name>_neutral.png / <name>_apex.png pairs "
                                   "(au_warp draws its own)")
    checkpoint: str | None = Field(None, description="ganmut: generator checkpoint path/URI")
    checkpoint_sha256: str | None = Field(None, description="expected sha256 of the checkpoint")
    batch_size: int = Field(16, ge=1, le=512, description="ganmut: faces per forward pass")
    workers: int | None = Field(None, ge=1, le=256, description="processes that edit identities in parallel "
                                "(default: the cores this container may use; GAN editors use one)")
    sheet_identities: int = Field(8, ge=0, le=64, description="rows of the contact sheet (0: none)")
    device: str = Field("cpu", description="torch device for GAN editors")

    @property
    def editor_names(self) -> tuple[str, ...]:
        """The main editor, then each further one: the order the stage edits an identity in."""
        return (self.editor, *self.also_editors)

    @field_validator("emotions")
    @classmethod
    def _known_emotions(cls, value: list[str]) -> list[str]:
        unknown = [e for e in value if e not in EMOTIONS]
        if unknown:
            raise ValueError(f"unknown emotions {unknown} (known: {', '.join(EMOTIONS)})")
        if len(set(value)) != len(value):
            raise ValueError("emotions are listed twice")
        return value

    @field_validator("au_targets")
    @classmethod
    def _valid_aus(cls, value: list[dict[str, float]]) -> list[dict[str, float]]:
        for spec in value:
            parse_aus(spec)
        return value

    @model_validator(mode="after")
    def _check(self) -> "ExpressionParams":
        if self.intensity_min > self.intensity_max:
            raise ValueError("intensity_min is above intensity_max")
        if not (self.emotions or self.polar_thetas or self.au_targets):
            raise ValueError("no targets: give emotions, polar_thetas or au_targets")
        if self.editor in self.also_editors or len(set(self.also_editors)) != len(self.also_editors):
            raise ValueError(f"also_editors {self.also_editors} repeats an editor (editor: {self.editor})")
        if self.editor == "ganmut" and not self.checkpoint:
            raise ValueError("editor 'ganmut' needs 'checkpoint' (train one with `fersynth train-ganmut`)")
        return self


# Not a pipeline stage: `fersynth train-ganmut` trains the ganmut editor's checkpoint.
class GANmutTrainParams(StageParams):
    steps: int = Field(20000, ge=1, description="generator updates in total (a resumed run continues to it)")
    image_size: int = Field(128, ge=32, le=512, description="training resolution (a multiple of 32)")
    batch_size: int = Field(16, ge=1, le=256, description="images per step")
    base_channels: int = Field(64, ge=4, le=256, description="generator/discriminator width")
    res_blocks: int = Field(6, ge=0, le=12, description="generator residual blocks")
    lr: float = Field(1e-4, gt=0, le=1e-2, description="Adam learning rate of both networks")
    lambda_cls: float = Field(1.0, ge=0, description="emotion classification loss weight")
    lambda_code: float = Field(5.0, ge=0, description="code regression loss weight")
    lambda_cycle: float = Field(10.0, ge=0, description="cycle reconstruction loss weight")
    lambda_attention: float = Field(0.1, ge=0, description="attention mask penalty (keeps edits local)")
    save_every: int = Field(500, ge=1, description="steps between checkpoints and sample grids")
    seed: int = Field(0, ge=0, description="random seed")
    device: str = Field("cpu", description="torch device (cuda for real training)")
