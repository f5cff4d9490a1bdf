"""Is an unedited face at rest? A seed's neutral label is only as good as the generated face.

A generator draws faces as its training photos were: many smile or talk. Labelled 'neutral' from their
seed, they teach a classifier that a moderate smile or a parted mouth is neutral, and it then calls real
smiles neutral; edited, they are not the expression their label names (README, train section).

Two measures on the face's 68 landmarks, in units of the distance between the eye centres (IOD): the
gap between the inner lips, and how far the mouth corners sit above the lips' seam. Real neutral faces
(the 14 of benchmarks/real_faces.py) stay within 0.025 on both at their 90th percentile.
"""
from __future__ import annotations

import numpy as np

from components.common.landmarks import INNER_LIP_PAIRS, eye_centres

MOUTH_CORNERS = (48, 54)


def mouth_gap_and_lift(landmarks68) -> tuple[float, float]:
    """(inner-lip gap, corner lift above the seam), both in IOD."""
    points = np.asarray(landmarks68, np.float64).reshape(68, 2)
    right, left = eye_centres(points)
    iod = max(float(np.linalg.norm(left - right)), 1e-6)
    gap = float(np.mean([points[lower, 1] - points[upper, 1] for upper, lower in INNER_LIP_PAIRS]))
    seam = (points[62, 1] + points[66, 1]) / 2
    lift = float(seam - points[list(MOUTH_CORNERS), 1].mean())  # y grows downwards
    return gap / iod, lift / iod


def not_at_rest(landmarks68, limit: float) -> str | None:
    """Why a face is not neutral (mouth open, or smiling), or None."""
    gap, lift = mouth_gap_and_lift(landmarks68)
    if gap > limit:
        return f"mouth open ({gap:.3f} IOD between the lips, limit {limit})"
    if lift > limit:
        return f"mouth corners raised ({lift:.3f} IOD above the lips' seam, limit {limit})"
    return None
