"""Parameters of the export stage (the one source for CLI flags, YAML and KFP)."""
from __future__ import annotations

from pydantic import Field

from components.common.config import StageParams


class ExportParams(StageParams):
    name: str = Field("fersynth_fer", pattern=r"^[A-Za-z0-9_\-]+$", description="Triton model name")
    version: int = Field(1, ge=1, description="Triton model version directory")
    max_batch_size: int = Field(64, ge=1, le=4096, description="Triton max_batch_size")
    opset: int = Field(17, ge=11, le=21, description="ONNX opset")
    parity_tolerance: float = Field(1e-4, gt=0, description="largest |torch - onnxruntime| allowed")
    parity_images: int = Field(32, ge=1, description="real images (from the dataset) used for the parity check")
    repository: str | None = Field(None, description="also copy the model repository to this path or s3:// prefix")
    gpu_instances: int = Field(0, ge=0, le=8, description="Triton GPU instance count (0: CPU instance group)")
