"""fersynth pipeline stages: one sub-package per stage, shared pieces in `common`."""
