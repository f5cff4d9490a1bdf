"""Parameters of the identity stage (the one source for CLI flags, YAML and KFP)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from components.common.config import StageParams


class IdentityParams(StageParams):
    backend: Literal["dcgan64", "stylegan2", "folder"] = Field(
        "dcgan64", description="where faces come from: a GAN by seed, or real photos")
    count: int = Field(256, ge=1, le=1_000_000, description="number of seeds (GAN) or at most this many photos")
    seed_start: int = Field(0, ge=0, lt=2**32, description="first seed; seeds are seed_start .. seed_start+count-1")
    seeds: list[int] | None = Field(None, description="explicit seeds instead of a range (e.g. from a seed list)")
    weights: str | None = Field(None, description="generator weights path/URI (dcgan64 defaults to the packaged net)")
    weights_sha256: str | None = Field(None, description="expected sha256 of the weights file")
    network: Literal["G_ema", "G"] = Field(
        "G_ema", description="stylegan2 training snapshot: the averaged generator (G_ema) or the raw one (G)")
    class_index: int | None = Field(None, ge=0, description="stylegan2 conditional generator (c_dim > 0): the class")
    truncation_psi: float = Field(1.0, ge=0.0, le=2.0,
                                  description="truncation: 1 = none, <1 = closer to the average (StyleGAN2: w_avg)")
    latent_index: int | None = Field(None, ge=0, description="principal latent direction to move along (none: 0)")
    latent_degrees: list[float] = Field([0.0], description="steps along latent_index, in standard deviations")
    pca_samples: int = Field(2000, ge=32, description="latents sampled to find principal directions")
    pca_components: int = Field(20, ge=1, le=512, description="principal directions kept")
    source: str | None = Field(None, description="folder backend: directory or s3:// prefix of photos")
    frame_size: int = Field(256, ge=32, le=4096,
                            description="GAN frames are resized to this; photos are shrunk to this longest side")
    crop_size: int = Field(128, ge=32, le=1024, description="side of the aligned face crop")
    crop_padding: float = Field(0.0, ge=-0.2, le=1.0,
                                description="margin around the alignment template (<0 zooms in, >0 out)")
    min_face_confidence: float = Field(0.9, ge=0.0, le=1.0, description="MTCNN confidence to keep a face")
    batch_size: int = Field(32, ge=1, le=1024, description="images generated and detected per batch")
    preview_seeds: int = Field(8, ge=0, le=64, description="rows of the seed x degree preview grid (0: none)")
    preview_degrees: list[float] = Field([-3.0, -1.5, 0.0, 1.5, 3.0], description="columns of the preview grid")
    preview_index: int = Field(0, ge=0, description="direction shown in the preview grid")
    device: str = Field("cpu", description="torch device for the generator and detector")

    @model_validator(mode="after")
    def _check(self) -> "IdentityParams":
        if self.backend == "folder" and not self.source:
            raise ValueError("backend 'folder' needs 'source' (a directory or s3:// prefix of photos)")
        if self.backend == "stylegan2" and not self.weights:
            raise ValueError("backend 'stylegan2' needs 'weights' (an official .pkl or a state_dict file)")
        if self.backend != "stylegan2" and (self.class_index is not None or self.network != "G_ema"):
            raise ValueError("'class_index' and 'network' apply to backend 'stylegan2' only")
        if self.seeds is not None and (not self.seeds or any(s < 0 or s >= 2**32 for s in self.seeds)):
            raise ValueError("'seeds' must be a non-empty list of integers in [0, 2**32)")
        if not self.latent_degrees:
            raise ValueError("'latent_degrees' needs at least one value (0 means no move)")
        if self.latent_index is not None and self.latent_index >= self.pca_components:
            raise ValueError(f"'latent_index' {self.latent_index} must be < pca_components {self.pca_components}")
        if self.preview_index >= self.pca_components:
            raise ValueError(f"'preview_index' {self.preview_index} must be < pca_components {self.pca_components}")
        return self

    def seed_list(self) -> list[int]:
        return list(self.seeds) if self.seeds is not None else list(range(self.seed_start, self.seed_start + self.count))
