"""Parameters of the evaluate stage (the one source for CLI flags, YAML and KFP)."""
from __future__ import annotations

from pydantic import Field

from components.common.config import StageParams


class EvaluateParams(StageParams):
    model_dir: str | None = Field(None, description="the train stage's output (model.pt, split.json); "
                                                    "the pipeline passes its Model artifact")
    test_sets: list[str] = Field([], description="extra test sets FORMAT:PATH for the cross-dataset table")
    batch_size: int = Field(256, ge=1, description="images per forward pass")
    device: str = Field("cpu", description="torch device")
