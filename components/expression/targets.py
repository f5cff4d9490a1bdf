"""Expression targets and balanced plans.

A target is an emotion with an intensity, a point (rho, theta) of a GANmut-style
polar emotion space, or an explicit FACS action-unit vector. Each resolves to AU
intensities (EMFACS-style prototypes) and, where it has one, an emotion label.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from components.common.facs import EMOTIONS, PROTOTYPES, SIDES, VARIANTS

# Polar space: one axis per emotion around the circle (circumplex order, valence/arousal-like),
# neutral at the origin. theta between two axes mixes their neighbours linearly.
POLAR_AXES: dict[str, float] = {"happy": 0.0, "surprise": 60.0, "fear": 120.0, "anger": 180.0,
                                "disgust": 240.0, "sad": 300.0}

Prototypes = dict[str, dict[int, float]]
# Where an editor's rendering needs other AU weights than the shared prototypes to read as the emotion
# (calibrated on real and GAN neutral faces with independent classifiers: README, "mesh_warp"). A change to
# 0 leaves the AU out. au_warp keeps the shared prototypes: its anger and fear read worse with these changes.
EDITOR_PROTOTYPE_CHANGES: dict[str, Prototypes] = {
    "mesh_warp": {
        # glares less (AU5) under lower brows (AU4), over lower lids tensed half as much (AU7): a glare, not
        # a squint, and the same person stays
        "anger": {4: 1.3, 5: 0.4, 7: 0.5},
        # the upper lids droop a little (AU43, which only mesh_warp renders); the lip corners a little lower,
        # which keeps sad where it was once the brows' spread was made continuous
        "sad": {43: 0.2, 15: 1.1},
        # the lip corners a little further: more classifiers read it on GAN faces, and the same person stays
        "happy": {12: 1.1},
        # harder brows (1+4) over slack lower lids (EMFACS lists fear with and without AU7): all three
        # classifiers read more fear on real and GAN faces, at the same identity cost (AU1 1.4 since the
        # brows' spread was made continuous: bigx reads fear on 3 of the 14 real faces instead of 1)
        "fear": {1: 1.4, 4: 1.5, 7: 0.0},
    },
}


def prototypes_for(editor: str) -> Prototypes:
    """The prototypes an editor renders, the AU weights its images are labelled with."""
    changes = EDITOR_PROTOTYPE_CHANGES.get(editor, {})
    return {emotion: _changed(aus, changes.get(emotion, {})) for emotion, aus in PROTOTYPES.items()}


def _changed(aus: dict[int, float], changes: dict[int, float]) -> dict[int, float]:
    """`aus` with an editor's changes; a change to 0 leaves that AU out."""
    return {au: v for au, v in {**aus, **changes}.items() if v > 0}


def variants_for(editor: str) -> dict[str, list[dict[int, float]]]:
    """Per emotion, every prototype the editor renders (its main one first), each with the editor's
    calibration of that emotion (e.g. mesh_warp's lower brows in anger whatever the mouth does)."""
    changes = EDITOR_PROTOTYPE_CHANGES.get(editor, {})
    main = prototypes_for(editor)
    return {emotion: [main[emotion]] + [_changed(aus, changes.get(emotion, {})) for aus in VARIANTS.get(emotion, ())]
            for emotion in main}


@dataclass(frozen=True)
class Target:
    kind: str  # "emotion" | "polar" | "aus"
    emotion: str | None  # the label, when the target has one
    intensity: float
    aus: dict[int, float] = field(default_factory=dict)
    rho: float | None = None
    theta: float | None = None
    side: str | None = None  # a unilateral target moves only the subject's "left" or "right" side

    @property
    def code(self) -> str:
        """A short name for file names and sheets, e.g. happy-0.80, polar-30-0.70, aus-12."""
        if self.kind == "emotion":
            return f"{self.emotion}-{self.intensity:.2f}"
        if self.kind == "polar":
            return f"polar-{self.theta:g}-{self.rho:.2f}"
        return "aus-" + "+".join(str(a) for a in sorted(self.aus))


def emotion_target(emotion: str, intensity: float, prototypes: Prototypes = PROTOTYPES) -> Target:
    if emotion not in prototypes:
        raise ValueError(f"unknown emotion {emotion!r} (known: {', '.join(EMOTIONS)})")
    aus = {au: round(w * intensity, 4) for au, w in prototypes[emotion].items()}
    return Target("emotion", emotion, float(intensity), aus, side=SIDES.get(emotion))


def polar_mix(theta_degrees: float) -> tuple[str, str, float]:
    """The two neighbouring emotion axes around theta and how far (0..1) theta is from the first."""
    theta = theta_degrees % 360.0
    names = sorted(POLAR_AXES, key=POLAR_AXES.get)
    for i, first in enumerate(names):
        second = names[(i + 1) % len(names)]
        span = (POLAR_AXES[second] - POLAR_AXES[first]) % 360.0 or 360.0
        offset = (theta - POLAR_AXES[first]) % 360.0
        if offset < span:
            return first, second, offset / span
    raise AssertionError("unreachable: the axes cover the circle")


def polar_target(rho: float, theta_degrees: float, prototypes: Prototypes = PROTOTYPES) -> Target:
    """GANmut-style linear code: rho is intensity, theta picks an emotion or mixes neighbours."""
    first, second, t = polar_mix(theta_degrees)
    aus: dict[int, float] = {}
    for emotion, weight in ((first, 1.0 - t), (second, t)):
        for au, w in prototypes[emotion].items():
            aus[au] = aus.get(au, 0.0) + w * weight * rho
    label = "neutral" if rho == 0 else (first if t <= 0.5 else second)
    aus = {a: round(v, 4) for a, v in aus.items() if v > 0}
    return Target("polar", label, float(rho), aus, float(rho), float(theta_degrees % 360.0))


def parse_aus(spec: dict) -> dict[int, float]:
    """{'AU12': 1.0, '6': 0.5} -> {12: 1.0, 6: 0.5}."""
    out = {}
    for key, value in spec.items():
        text = str(key).upper().removeprefix("AU")
        if not text.isdigit():
            raise ValueError(f"bad action unit {key!r} (use e.g. AU12 or 12)")
        if not 0.0 <= float(value) <= 2.0:
            raise ValueError(f"{key}: intensity {value} outside [0, 2]")
        out[int(text)] = float(value)
    return out


def au_target(spec: dict) -> Target:
    aus = parse_aus(spec)
    return Target("aus", None, max(aus.values(), default=0.0), aus)


def draw_intensity(seed: int, what: str, k: int, low: float, high: float) -> float:
    """A reproducible intensity for (identity seed, target, repeat), uniform in [low, high]."""
    digest = hashlib.sha256(f"{seed}:{what}:{k}".encode()).digest()
    u = int.from_bytes(digest[:8], "little") / 2**64
    return round(low + (high - low) * u, 4)


def draw_variant(seed: int, emotion: str, k: int, count: int) -> int:
    """A reproducible choice among an emotion's `count` prototypes for (identity seed, repeat)."""
    digest = hashlib.sha256(f"{seed}:{emotion}:variant:{k}".encode()).digest()
    return int.from_bytes(digest[:8], "little") % count


def plan_for_identity(seed: int, emotions: list[str], polar_thetas: list[float], au_specs: list[dict],
                      low: float, high: float, repeats: int, prototypes: Prototypes = PROTOTYPES,
                      variants: dict[str, list[dict[int, float]]] | None = None) -> list[Target]:
    """Every requested expression for one identity (balanced), intensities drawn from [low, high];
    with `variants`, each emotion's prototype drawn among them (polar targets keep `prototypes`)."""
    targets = []
    for k in range(repeats):
        for emotion in emotions:
            intensity = 0.0 if emotion == "neutral" else draw_intensity(seed, emotion, k, low, high)
            chosen = prototypes
            if variants and len(variants.get(emotion, ())) > 1:
                options = variants[emotion]
                chosen = {**prototypes, emotion: options[draw_variant(seed, emotion, k, len(options))]}
            targets.append(emotion_target(emotion, intensity, chosen))
        for theta in polar_thetas:
            targets.append(polar_target(draw_intensity(seed, f"polar{theta}", k, low, high), theta, prototypes))
    targets.extend(au_target(spec) for spec in au_specs)
    return targets


def au_vector(aus: dict[int, float], units: tuple[int, ...]) -> np.ndarray:
    return np.array([aus.get(u, 0.0) for u in units], dtype=np.float32)
