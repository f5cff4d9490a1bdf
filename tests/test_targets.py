import pytest

from components.expression.targets import (POLAR_AXES, au_target, draw_intensity, emotion_target, parse_aus,
                                           plan_for_identity, polar_mix, polar_target, prototypes_for, variants_for)


def test_emotion_prototypes_scale_with_intensity():
    assert emotion_target("happy", 0.5).aus == {6: 0.4, 12: 0.5, 25: 0.4}
    assert set(emotion_target("surprise", 1).aus) == {1, 2, 5, 25, 26}
    assert emotion_target("neutral", 0.0).aus == {}
    with pytest.raises(ValueError, match="unknown emotion 'joy'"):
        emotion_target("joy", 1.0)


def test_polar_space():
    on_axis = polar_target(0.8, POLAR_AXES["sad"])
    assert on_axis.emotion == "sad" and on_axis.aus == emotion_target("sad", 0.8).aus
    between = polar_target(1.0, (POLAR_AXES["happy"] + POLAR_AXES["surprise"]) / 2 + 5)
    assert between.emotion == "surprise" and between.aus[12] < 0.5 and between.aus[26] > 0.5
    assert polar_target(0.0, 123).emotion == "neutral" and polar_target(0.0, 123).aus == {}
    assert polar_target(1.0, 359.0).emotion == "happy"  # wraps around
    assert polar_mix(POLAR_AXES["happy"] + 15) == ("happy", "surprise", pytest.approx(0.25))


def test_plans_are_balanced_and_reproducible():
    emotions = ["neutral", "happy", "sad", "anger"]
    plan = plan_for_identity(7, emotions, [30.0], [{"AU4": 1.0}], 0.6, 1.0, repeats=2)
    assert [t.emotion for t in plan[:4]] == emotions and len(plan) == 2 * 5 + 1
    again = plan_for_identity(7, emotions, [30.0], [{"AU4": 1.0}], 0.6, 1.0, repeats=2)
    assert plan == again
    intensities = [draw_intensity(s, "happy", 0, 0.6, 1.0) for s in range(200)]
    assert all(0.6 <= v <= 1.0 for v in intensities) and len(set(intensities)) > 150  # ranges, not points


def test_an_editor_renders_its_own_calibration_of_a_prototype_and_is_labelled_with_it():
    shared, mesh = prototypes_for("au_warp"), prototypes_for("mesh_warp")
    assert mesh["anger"] != shared["anger"] and mesh["anger"][4] > shared["anger"][4]
    assert set(mesh["anger"]) == set(shared["anger"])  # the same action units, other weights
    assert mesh["sad"] == {**shared["sad"], 43: 0.2, 15: 1.1}  # drooping upper lids: only mesh_warp renders AU43
    assert mesh["happy"] == {**shared["happy"], 12: 1.1}  # lip corners a little further
    # harder brows over slack lower lids: a change to 0 leaves the AU out of the rendering and the label
    assert mesh["fear"][4] > shared["fear"][4] and 7 in shared["fear"] and 7 not in mesh["fear"]
    changed = ("anger", "sad", "happy", "fear")
    assert {e: a for e, a in mesh.items() if e not in changed} == {e: a for e, a in shared.items() if e not in changed}
    plan = plan_for_identity(3, ["anger"], [POLAR_AXES["anger"]], [], 1.0, 1.0, repeats=1, prototypes=mesh)
    assert plan[0].aus == mesh["anger"] and plan[1].aus == mesh["anger"]  # emotion and on-axis polar targets


def test_variants_draw_each_emotion_among_its_prototypes_per_identity_and_keep_the_label():
    mesh = variants_for("mesh_warp")
    assert mesh["anger"][0] == prototypes_for("mesh_warp")["anger"] and len(mesh["anger"]) > 1
    pressed = mesh["anger"][1]
    assert 24 in pressed and 25 not in pressed and pressed[4] == 1.3  # the editor's brows over another mouth
    assert mesh["sad"] == [prototypes_for("mesh_warp")["sad"]]  # no other prototype: always the one
    emotions = ["neutral", "happy", "sad", "disgust", "anger"]
    drawn = {e: set() for e in emotions}
    for seed in range(40):
        plan = plan_for_identity(seed, emotions, [], [], 1.0, 1.0, 1, prototypes_for("mesh_warp"), mesh)
        assert [t.emotion for t in plan] == emotions
        assert plan == plan_for_identity(seed, emotions, [], [], 1.0, 1.0, 1, prototypes_for("mesh_warp"), mesh)
        for t in plan:
            drawn[t.emotion].add(tuple(sorted(t.aus)))
    for emotion in ("happy", "disgust", "anger"):  # every prototype of the emotion turns up
        assert drawn[emotion] == {tuple(sorted(v)) for v in mesh[emotion]}
    assert len(drawn["sad"]) == 1 and drawn["neutral"] == {()}
    plain = plan_for_identity(5, emotions, [], [], 1.0, 1.0, 1, prototypes_for("mesh_warp"))
    assert [t.aus for t in plain] == [prototypes_for("mesh_warp")[e] for e in emotions]  # off: the main ones


def test_au_specs():
    assert parse_aus({"AU12": 1, "6": 0.5}) == {12: 1.0, 6: 0.5}
    assert au_target({"au4": 0.3}).emotion is None
    with pytest.raises(ValueError, match="bad action unit"):
        parse_aus({"smile": 1})
    with pytest.raises(ValueError, match="outside"):
        parse_aus({"AU12": 5})
