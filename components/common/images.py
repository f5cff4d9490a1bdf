"""Container image tags of the stage images: one place, used by component definitions and docs."""
from __future__ import annotations

import os

from components import __version__

# Set FERSYNTH_IMAGE_REGISTRY when compiling the pipeline to point at your registry.
DEFAULT_REGISTRY = "ghcr.io/fersynth"


def stage_image(stage: str) -> str:
    registry = os.environ.get("FERSYNTH_IMAGE_REGISTRY", DEFAULT_REGISTRY).rstrip("/")
    return f"{registry}/fersynth-{stage}:{__version__}"
