"""Parameters of the bias stage (the one source for CLI flags, YAML and KFP)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from components.common.config import StageParams


class BiasParams(StageParams):
    attributes: str | None = Field(
        None, description="CSV (path or s3://) of group attributes: an `identity` or `image` column plus one column "
                          "per attribute (e.g. age_group, gender)")
    model_dir: str | None = Field(None, description="a train stage output: adds per-group accuracy of that model")
    aligned: Literal["auto", "yes", "no"] = Field(
        "auto", description="are the images aligned face crops? auto: yes for fersynth/rafdb datasets, else detect "
                            "and align each face")
    held_out_only: bool = Field(True, description="with the model's own training dataset, score only its "
                                                  "held-out test identities")
    min_group_size: int = Field(5, ge=1, description="groups smaller than this get counts but no accuracy verdict")
    accuracy_gap: float = Field(0.1, ge=0, le=1, description="flag groups whose accuracy is this far below overall")
