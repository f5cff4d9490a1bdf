"""fersynth's FACS vocabulary, shared by every stage: the emotion labels, the action units a label
table has columns for, and the EMFACS-style prototype of each emotion."""
from __future__ import annotations

EMOTIONS = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt")

# Prototype AU sets (EMFACS-style); weights are the AU intensity at emotion intensity 1.
PROTOTYPES: dict[str, dict[int, float]] = {
    "neutral": {},
    "happy": {6: 0.8, 12: 1.0, 25: 0.8},  # a Duchenne smile with the lips parted
    "sad": {1: 1.0, 4: 0.6, 15: 1.0, 17: 0.4},
    "surprise": {1: 1.0, 2: 1.0, 5: 0.8, 25: 1.0, 26: 1.0},
    # Fear: inner brows hard up and drawn together (1+4 stronger than in sadness), lips stretched with the
    # lower lip pulled down (AU16) and the jaw only half open: not surprise's round, dropped mouth. The upper
    # lids rise only a little over tense lower lids (AU5 0.3, AU7): a wide stare reads as surprise to
    # independent classifiers, on real and GAN faces alike, and changes the face's identity more. No AU2:
    # EMFACS lists 1+2+4, but the editors' AU2 lifts the outer brows into surprise's arch; without it the
    # brows slant, and both classifiers read more fear with both editors, on real and GAN faces (README).
    "fear": {1: 1.2, 4: 1.3, 5: 0.3, 7: 0.4, 16: 1.0, 20: 0.4, 25: 1.0, 26: 0.5},
    # Anger: brows down, glare, lids tight, and the open, squared mouth of EMFACS 4+5+7+10+23+25 (upper lip
    # raised, lips tightened and parted) rather than the pressed lips of 4+5+7+23+24+17, which classifiers
    # read as neutral.
    "anger": {4: 1.0, 5: 0.7, 7: 1.0, 10: 0.6, 23: 1.0, 25: 0.6},
    # Disgust: the nose wrinkled, the upper lip raised over closed lips pushed up by the chin (EMFACS 9+17,
    # 10+17), with the squint (cheeks up, lids tight) that CK+'s real disgust apexes show: the two FER2013
    # classifiers read it better than the open snarl on real and GAN faces with both editors (README).
    "disgust": {6: 0.6, 7: 0.5, 9: 1.0, 10: 0.4, 17: 0.8},
    "contempt": {12: 0.5, 14: 0.8},  # unilateral: R12A+R14A (SIDES)
}
# The emotions' other EMFACS prototypes, mostly other mouths for the same upper face. Real faces show
# each emotion in more than one way (CK+ anger and disgust are mostly closed-mouthed); a training set
# that shows one mouth per emotion teaches the mouth. The expression stage's `variants` draws one of
# PROTOTYPES[e] and these per identity and repeat.
VARIANTS: dict[str, tuple[dict[int, float], ...]] = {
    "happy": ({6: 0.8, 12: 1.0},),  # 6+12: the smile with the lips closed
    # the stronger, open disgust (EMFACS 9+15+16 and 10+16+25): the upper lip high over parted lips
    "disgust": ({9: 1.0, 10: 1.0, 15: 0.6, 16: 0.6, 25: 0.5},),
    "anger": ({4: 1.0, 5: 0.7, 7: 1.0, 17: 0.6, 23: 1.0, 24: 1.0},),  # 4+5+7+17+23+24: lips pressed together
}
# Emotions whose prototype moves one side of the face only (the subject's side).
SIDES: dict[str, str] = {"contempt": "right"}

# The action units fersynth's editors move and its label tables have columns for (AU43, eyes closed,
# is mesh_warp's only extra one and is not a label column).
ACTION_UNITS = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 16, 17, 20, 23, 24, 25, 26)
