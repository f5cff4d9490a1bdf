"""Parameters of the privacy stage (the one source for CLI flags, YAML and KFP)."""
from __future__ import annotations

from pydantic import Field

from components.common.config import StageParams
from components.common.face_descriptors import SAME_PERSON_DISTANCE


class PrivacyParams(StageParams):
    reference: list[str] = Field(
        ["samples"], description="real faces to compare with: photo folders (path or s3://), FORMAT:PATH datasets "
                                 "(e.g. rafdb:DIR, the real training sets), or 'samples' (public-domain photos "
                                 "shipped in installed packages)")
    threshold: float = Field(SAME_PERSON_DISTANCE, gt=0, le=2.0,
                             description="descriptor distance below which an identity is flagged (dlib: 0.6 = "
                                         "same person)")
    drop: bool = Field(False, description="leave flagged identities out of the output dataset")
    images_per_identity: int = Field(2, ge=1, le=20, description="images averaged into an identity's descriptor "
                                                                 "(neutral first)")
    max_reference: int = Field(5000, ge=1, description="at most this many reference faces")
    report_examples: int = Field(12, ge=0, le=200, description="closest identity/reference pairs shown in the report")
