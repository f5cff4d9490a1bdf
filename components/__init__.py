"""fersynth pipeline stages: one sub-package per stage, shared pieces in `common`."""

__version__ = "0.1.0"
