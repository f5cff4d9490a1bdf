"""Parameters of the annotate stage (the one source for CLI flags, YAML and KFP)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from components.common.config import StageParams
from components.common.facs import ACTION_UNITS


class AnnotateParams(StageParams):
    seed_list: str | None = Field(None, description="YAML or CSV (path or s3://) mapping seeds to emotions/AUs")
    prefer: Literal["target", "seed_list"] = Field(
        "target", description="which label wins when an edited image's target and its seed list disagree")
    au_units: list[int] = Field(list(ACTION_UNITS), description="AU columns of the labels table")
    au_threshold: float = Field(0.25, ge=0.0, le=5.0, description="AU intensity at which an AU counts as present")
    neutral_mouth_limit: float = Field(
        0.0, ge=0.0, le=1.0,
        description="images whose unedited face has its lips parted or its mouth corners raised by more than this "
                    "(in eye distances; real neutral faces stay within 0.025) are left out: that face is no "
                    "neutral, and its edits not the expression they are labelled with; 0 (the stage's default): keep "
                    "every one; the demo run uses 0.06")
    gallery_seeds: int = Field(200, ge=0, le=5000, description="seeds shown in the review gallery (0: none)")
