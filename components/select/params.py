"""Parameters of the select stage (the one source for CLI flags, YAML and KFP)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from components.common.config import StageParams

METRICS = ("brisque", "niqe", "psnr", "ssim", "rmse", "sam", "uqi", "face")


class SelectParams(StageParams):
    reference: str | None = Field(None, description="real reference images (dir or s3://) for NIQE and FID; "
                                                    "default: the input's unedited faces (references/)")
    min_face_confidence: float = Field(0.9, ge=0.0, le=1.0, description="phase 1: MTCNN confidence for the one face")
    min_colourfulness: float = Field(8.0, ge=0.0, description="phase 1: below this an image counts as grey")
    max_colour_cast: float = Field(30.0, ge=0.0, description="phase 1: largest mean CIELAB a/b offset allowed")
    batch_size: int = Field(512, ge=1, description="phase 3: selection batch (the thesis used 512)")
    top_k: int | None = Field(180, ge=1, description="phase 3: images kept per batch (None: keep all that pass)")
    keep: Literal["images", "identities"] = Field(
        "images", description="phase 3: top-k picks single images, class-balanced (the thesis), or whole identities "
                              "with all their expressions, best mean score first")
    # Full-reference metrics against the unedited face measure how much the edit changed, not quality:
    # ranking by them would prefer the weakest expressions, so by default they are reported, not ranked.
    weights: dict[str, float] = Field({"brisque": -1.0, "niqe": -1.0},
                                      description="combined score: weight per metric z-score (negative: lower is better)")
    max_brisque: float | None = Field(None, description="threshold: reject above this BRISQUE")
    max_niqe: float | None = Field(None, description="threshold: reject above this NIQE")
    min_ssim: float | None = Field(None, description="threshold: reject below this SSIM to the source face")
    min_psnr: float | None = Field(None, description="threshold: reject below this PSNR to the source face")
    niqe_patch: int = Field(32, ge=8, le=192, description="NIQE patch size in pixels (96 in the paper, for big images)")
    fid_images: int = Field(256, ge=2, description="at most this many images per set for FID/KID (Inception is slow on CPU)")
    fid: bool = Field(True, description="compute FID/KID (set level, and per emotion)")
    sheet_size: int = Field(24, ge=0, le=128, description="images on the best and worst contact sheets")
    device: str = Field("cpu", description="torch device for MTCNN and Inception")
    seed: int = Field(0, description="seed for FID subsampling")

    @field_validator("weights")
    @classmethod
    def _known(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(METRICS))
        if unknown or not value:
            raise ValueError(f"weights must name metrics among {METRICS}; unknown: {unknown}")
        return value
