import shutil

import cv2
import numpy as np
import pytest

from components.adapt.params import AdaptParams
from components.adapt.run import run as adapt_run
from components.common.journal import JournalError
from components.common.manifest import read_manifest, read_stage_info, write_manifest
from components.expression import run as expression_module
from components.expression.parallel import MIN_POOLED_IDENTITIES
from components.expression.params import ExpressionParams
from components.expression.run import run as expression_run
from components.identity.params import IdentityParams
from components.identity.run import run as identity_run

EMOTIONS = ["neutral", "happy", "surprise", "anger"]


@pytest.fixture(scope="module")
def identities(tmp_path_factory):
    out = tmp_path_factory.mktemp("ids")
    identity_run(IdentityParams(count=5, seed_start=40, preview_seeds=0), out)
    return out


@pytest.fixture(scope="module")
def expressions(identities, tmp_path_factory):
    out = tmp_path_factory.mktemp("expr")
    counts = expression_run(ExpressionParams(emotions=EMOTIONS, polar_thetas=[90.0], sheet_identities=3),
                            identities, out)
    return out, counts


def test_every_identity_gets_every_expression(identities, expressions):
    out, counts = expressions
    rows = read_manifest(out)
    parents = {r["parent_id"] for r in rows}
    assert len(parents) * 5 == len(rows) == counts["images"]
    for parent in parents:
        mine = [r for r in rows if r["parent_id"] == parent]
        assert [r["target_emotion"] for r in mine[:4]] == EMOTIONS and mine[4]["target_kind"] == "polar"
        assert len({r["seed"] for r in mine}) == 1
        assert (out / mine[0]["frame_path"]).exists()
    for row in rows:
        assert row["id"] == f"{row['seed']}_{int(row['id'].split('_')[1]):06d}"
        assert 0.6 <= row["target_intensity"] <= 1.0 or row["target_emotion"] == "neutral"
        assert cv2.imread(str(out / row["path"])).shape == (128, 128, 3)
    neutral = next(r for r in rows if r["target_emotion"] == "neutral")
    parent_crop = cv2.imread(str(identities / "images" / f"{neutral['parent_id']}.png"))
    assert np.array_equal(cv2.imread(str(out / neutral["path"])), parent_crop)  # neutral = unedited
    assert (out / "contact_sheet.png").exists()


def test_further_editors_edit_every_identity_again(identities, tmp_path):
    params = ExpressionParams(emotions=["neutral", "anger"], also_editors=["au_warp"], max_identities=3)
    counts = expression_run(params, identities, tmp_path / "out")
    rows = read_manifest(tmp_path / "out")
    assert counts["planned"] == 3 * 2 * 2 and len({r["id"] for r in rows}) == len(rows)
    by_editor = {name: [r for r in rows if r["editor"] == name] for name in ("mesh_warp", "au_warp")}
    assert len(by_editor["au_warp"]) == 6 and by_editor["mesh_warp"]  # mesh_warp may refuse a pose
    for parent in {r["parent_id"] for r in by_editor["mesh_warp"]}:
        mine = {r["editor"]: r for r in rows if r["parent_id"] == parent and r["target_emotion"] == "anger"}
        a = cv2.imread(str(tmp_path / "out" / mine["mesh_warp"]["path"]))
        b = cv2.imread(str(tmp_path / "out" / mine["au_warp"]["path"]))
        assert not np.array_equal(a, b)  # two renderings of the same target
        # each labelled with the action units its editor was asked for (mesh_warp's own anger calibration)
        assert mine["mesh_warp"]["target_aus"]["4"] > mine["au_warp"]["target_aus"]["4"]
    with pytest.raises(ValueError, match="repeats an editor"):
        ExpressionParams(editor="au_warp", also_editors=["au_warp"])


def test_faces_without_landmarks_are_dropped_with_a_reason(identities, tmp_path):
    broken = tmp_path / "ids"
    shutil.copytree(identities, broken, ignore=shutil.ignore_patterns(".*"))
    rows = read_manifest(broken)
    cv2.imwrite(str(broken / rows[0]["path"]), np.full((128, 128, 3), 90, np.uint8))  # flat grey: no face
    (broken / rows[1]["path"]).write_bytes(b"truncated")
    write_manifest(broken, rows)
    counts = expression_run(ExpressionParams(emotions=EMOTIONS), broken, tmp_path / "out")
    assert counts["rejected"]["landmarks_failed"] == 4 and counts["rejected"]["unreadable"] == 4
    problems = "\n".join(read_stage_info(tmp_path / "out")["problems"])
    assert rows[0]["path"] in problems and rows[1]["path"] in problems


def test_expression_resume_and_changed_input(identities, tmp_path, monkeypatch):
    params = ExpressionParams(emotions=EMOTIONS, sheet_identities=0)
    real = expression_module.write_image
    calls = {"n": 0}

    def crash(path, image):
        calls["n"] += 1
        if calls["n"] == 6:
            raise KeyboardInterrupt
        real(path, image)

    monkeypatch.setattr(expression_module, "write_image", crash)
    with pytest.raises(KeyboardInterrupt):
        expression_run(params, identities, tmp_path)
    monkeypatch.setattr(expression_module, "write_image", real)
    first = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "images").glob("*.png")}
    assert len(first) == 5
    counts = expression_run(params, identities, tmp_path)
    assert all((tmp_path / "images" / n).stat().st_mtime_ns == t for n, t in first.items())
    assert counts["images"] + sum(counts["rejected"].values()) == counts["planned"]
    with pytest.raises(JournalError, match="different parameters"):
        expression_run(ExpressionParams(emotions=["happy"]), identities, tmp_path)


def test_adapt_stage(expressions, tmp_path):
    src, _ = expressions
    counts = adapt_run(AdaptParams(output_size=100, sheet_identities=2), src, tmp_path / "rgb")
    rows = read_manifest(tmp_path / "rgb")
    assert counts["images"] == len(rows) == len(read_manifest(src))
    for row in rows[:6]:
        assert cv2.imread(str(tmp_path / "rgb" / row["path"])).shape == (100, 100, 3)
        assert (tmp_path / "rgb" / row["reference_path"]).exists()
        assert "frame_path" not in row
    neutral = next(r for r in rows if r["target_emotion"] == "neutral")
    final = cv2.imread(str(tmp_path / "rgb" / neutral["path"])).astype(float)
    reference = cv2.imread(str(tmp_path / "rgb" / neutral["reference_path"])).astype(float)
    assert 10 * np.log10(255 ** 2 / np.mean((final - reference) ** 2)) > 35  # unedited in, unedited out
    adapt_run(AdaptParams(output_size=64, grey=True, blend="poisson", sheet_identities=0), src, tmp_path / "grey")
    grey = cv2.imread(str(tmp_path / "grey" / read_manifest(tmp_path / "grey")[0]["path"]), cv2.IMREAD_UNCHANGED)
    assert grey.shape == (64, 64)


def test_adapt_refuses_a_dataset_without_expressions(identities, tmp_path):
    with pytest.raises(ValueError, match="not an expression dataset"):
        adapt_run(AdaptParams(), identities, tmp_path)


def test_worker_processes_make_the_same_dataset_as_one_process(tmp_path):
    ids = tmp_path / "ids"
    identity_run(IdentityParams(count=10, seed_start=40, preview_seeds=0), ids)
    rows = read_manifest(ids)
    assert len(rows) >= MIN_POOLED_IDENTITIES  # enough for the pool to start
    cv2.imwrite(str(ids / rows[0]["path"]), np.full((128, 128, 3), 90, np.uint8))  # flat grey: no face
    (ids / rows[1]["path"]).write_bytes(b"truncated")
    write_manifest(ids, rows)
    made = {}
    for workers in (1, 2):
        params = ExpressionParams(emotions=["neutral", "happy", "fear"], sheet_identities=0, workers=workers)
        counts = expression_run(params, ids, tmp_path / str(workers))
        made[workers] = (counts, read_manifest(tmp_path / str(workers)),
                         {p.name: p.read_bytes() for p in (tmp_path / str(workers) / "images").glob("*.png")})
        timings = read_stage_info(tmp_path / str(workers))["timings_s"]
        assert timings["edit"] > 0 and timings["landmarks"] > 0  # measured in the workers too
    assert made[1] == made[2]
    counts = made[2][0]
    assert counts["rejected"]["landmarks_failed"] == 3 and counts["rejected"]["unreadable"] == 3
    # how many processes edit is not part of what the stage makes: a resume may change it
    again = expression_run(params.model_copy(update={"workers": 1}), ids, tmp_path / "2")
    assert again["images"] == counts["images"]


def test_usable_cores_follow_a_pods_cpu_limit(tmp_path):
    from components.common.cores import usable_cores

    cores = usable_cores(tmp_path / "absent")  # no cgroup v2 quota: the affinity
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("max 100000\n")
    assert usable_cores(cpu_max) == cores
    cpu_max.write_text("150000 100000\n")  # limits.cpu: 1.5
    assert usable_cores(cpu_max) == min(cores, 2)
    cpu_max.write_text("50000 100000\n")
    assert usable_cores(cpu_max) == 1
