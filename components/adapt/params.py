"""Parameters of the adapt stage (the one source for CLI flags, YAML and KFP)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from components.common.config import StageParams


class AdaptParams(StageParams):
    colour_transfer: bool = Field(True, description="match the edited face's LAB mean/std to the original face")
    blend: Literal["alpha", "poisson", "none"] = Field(
        "alpha", description="paste-back: feathered alpha, Poisson (seamlessClone), or hard paste")
    border: float = Field(0.08, ge=0.0, le=0.5, description="alpha ramp width, as a fraction of the crop side")
    forehead: float = Field(0.6, ge=0.0, le=1.5, description="face mask reaches this many eye distances above the brows")
    output_size: int = Field(100, ge=16, le=1024, description="side of the final aligned image (100: RAF-DB aligned)")
    output_padding: float = Field(0.0, ge=-0.2, le=1.0, description="margin of the final crop around the template")
    grey: bool = Field(False, description="write greyscale images (e.g. 64x64 grey for the simple CNN)")
    keep_frames: bool = Field(False, description="also write each adapted full frame")
    sheet_identities: int = Field(8, ge=0, le=64, description="rows of the contact sheet (0: none)")
