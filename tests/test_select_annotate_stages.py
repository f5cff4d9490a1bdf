import csv
import shutil
from collections import Counter

import cv2
import numpy as np
import pytest

from components.adapt.params import AdaptParams
from components.adapt.run import run as adapt_run
from components.annotate.params import AnnotateParams
from components.annotate.run import run as annotate_run
from components.annotate.seedlist import SeedListError, dump_yaml, load_seed_list, parse_seed_list
from components.common.imageio import read_image
from components.common.manifest import read_manifest, read_stage_info, write_manifest
from components.expression.params import ExpressionParams
from components.expression.run import run as expression_run
from components.identity.params import IdentityParams
from components.identity.run import run as identity_run
from components.select.params import SelectParams
from components.select.run import colour_problem, run as select_run
from components.select.selection import balanced_top_k

EMOTIONS = ["neutral", "happy", "surprise"]


@pytest.fixture(scope="module")
def adapted(tmp_path_factory):
    root = tmp_path_factory.mktemp("flow")
    identity_run(IdentityParams(count=8, seed_start=60, preview_seeds=0), root / "ids")
    expression_run(ExpressionParams(emotions=EMOTIONS, sheet_identities=0), root / "ids", root / "expr")
    adapt_run(AdaptParams(sheet_identities=0), root / "expr", root / "adapt")
    return root / "adapt"


def test_balanced_top_k_keeps_exactly_k_and_every_class():
    rng = np.random.RandomState(0)
    labels = ["a"] * 400 + ["b"] * 100 + ["c"] * 12
    chosen = balanced_top_k(labels, rng.rand(512), 180)
    assert len(chosen) == 180 and {labels[i] for i in chosen} == {"a", "b", "c"}
    # A rare class with terrible scores still keeps a place.
    scores = np.r_[np.ones(500), -np.ones(12)]
    chosen = balanced_top_k(labels, scores, 180)
    assert sum(labels[i] == "c" for i in chosen) >= 1 and len(chosen) == 180


def test_select_keeps_k_per_batch_and_writes_the_report(adapted, tmp_path):
    rows = read_manifest(adapted)
    params = SelectParams(batch_size=9, top_k=4, fid_images=8, sheet_size=4)
    counts = select_run(params, adapted, tmp_path)
    kept = read_manifest(tmp_path)
    with open(tmp_path / "selection.csv") as fh:
        selection = list(csv.DictReader(fh))
    assert len(selection) == len(rows)
    for batch in {r["batch"] for r in selection if r["batch"]}:
        members = [r for r in selection if r["batch"] == batch]
        passed = [r for r in members if r["reason"] in ("", "not_in_top_k")]
        assert sum(r["kept"] == "1" for r in members) == min(4, len(passed))
    assert counts["kept"] == len(kept) and {r["target_emotion"] for r in kept} == set(EMOTIONS)
    for row in kept:
        assert (tmp_path / row["path"]).exists() and np.isfinite(row["q_brisque"]) and -1.0 <= row["q_ssim"] <= 1.0
        x0, y0, x1, y1 = row["face_box"]  # the face found, kept for later stages
        height, width = read_image(tmp_path / row["path"]).shape[:2]
        assert 0 < (x0 + x1) / 2 < width and 0 < (y0 + y1) / 2 < height  # may reach past a tight crop's edge
        assert 0.3 * width < x1 - x0 < 1.5 * width
    page = (tmp_path / "report.html").read_text()
    assert "data:image/png;base64" in page and "kept vs reference" in page and "fewer than 2048" in page
    assert (tmp_path / "report" / "histograms.png").exists()


def test_select_rejects_bad_images_with_reasons(adapted, tmp_path):
    broken = tmp_path / "in"
    shutil.copytree(adapted, broken, ignore=shutil.ignore_patterns(".*"))
    rows = read_manifest(broken)
    (broken / rows[0]["path"]).write_bytes(b"\x89PNG truncated")
    cv2.imwrite(str(broken / rows[2]["path"]), np.full((100, 100, 3), 128, np.uint8))
    write_manifest(broken, rows)
    counts = select_run(SelectParams(top_k=None, fid=False), broken, tmp_path / "out")
    assert counts["rejected"]["unreadable"] == 1 and counts["rejected"]["no_face"] >= 1
    problems = "\n".join(read_stage_info(tmp_path / "out")["problems"])
    assert f"{rows[0]['path']}: not a recognised image format" in problems
    assert f"{rows[2]['path']}: no face" in problems


def test_grey_and_tinted_images_are_refused(astronaut):
    params = SelectParams()
    assert colour_problem(astronaut, params) is None
    grey = cv2.cvtColor(cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    assert colour_problem(grey, params) == "grey"
    tinted = np.clip(astronaut * np.array([0.4, 1.0, 0.4]) + [0, 60, 0], 0, 255).astype(np.uint8)
    assert colour_problem(tinted, params) == "colour_cast"


def test_thresholds_reject_everything_with_a_clear_error(adapted, tmp_path):
    with pytest.raises(RuntimeError, match="threshold:brisque"):
        select_run(SelectParams(top_k=None, fid=False, max_brisque=0.0), adapted, tmp_path)


def test_seed_lists_parse_and_refuse_bad_entries(tmp_path):
    labels = parse_seed_list("seeds:\n  3: {emotion: happy, aus: [6, AU12]}\n  5: {aus: {AU4: 0.5}}\n", "s.yaml")
    assert labels[3].emotion == "happy" and labels[3].aus == {6: 1.0, 12: 1.0} and labels[5].aus == {4: 0.5}
    assert parse_seed_list(dump_yaml(labels), "again.yaml") == labels
    csv_labels = parse_seed_list("seed,emotion,aus\n7,sad,AU1+AU4:0.5\n8,,12\n", "s.csv")
    assert csv_labels[7].aus == {1: 1.0, 4: 0.5} and csv_labels[8].emotion is None
    for text, name, message in (("seed,emotion\nx,happy\n", "b.csv", "b.csv:2: seed 'x' is not an integer"),
                                ("seed,emotion\n1,joyful\n", "b.csv", "unknown emotion 'joyful'"),
                                ("seed,aus\n1,smile\n", "b.csv", "bad action unit"),
                                ("seeds: [1, 2]", "b.yaml", "expected 'seeds:'"),
                                ("seeds: {1: {}}", "b.yaml", "neither an emotion nor any AU"),
                                ("seed,emotion\n1,happy\n1,sad\n", "b.csv", "listed twice")):
        with pytest.raises(SeedListError, match=message):
            parse_seed_list(text, name)
    with pytest.raises(SeedListError, match="missing.yaml"):
        load_seed_list(str(tmp_path / "missing.yaml"))


def test_annotate_propagates_seed_labels_and_reports_disagreement(adapted, tmp_path):
    rows = read_manifest(adapted)
    seed = rows[0]["seed"]
    seed_list = tmp_path / "seeds.yaml"
    seed_list.write_text(f"seeds:\n  {seed}: {{emotion: sad, aus: [AU17]}}\n  123456: {{emotion: happy}}\n")
    counts = annotate_run(AnnotateParams(seed_list=str(seed_list)), adapted, tmp_path / "out")
    labelled = read_manifest(tmp_path / "out")
    mine = [r for r in labelled if r["seed"] == seed]
    neutral = next(r for r in mine if r["target_emotion"] == "neutral")
    happy = next(r for r in mine if r["target_emotion"] == "happy")
    assert neutral["label_emotion"] == "sad" and neutral["label_source"] == "seed_list"
    assert happy["label_emotion"] == "happy" and "disagreement" in happy["label_note"]
    assert all(r["label_aus"].get("17") == 1.0 for r in mine)
    assert counts["seed_list_unused"] == 1 and counts["disagreements"] == 2  # happy and surprise
    others = [r for r in labelled if r["seed"] != seed]
    assert all(r["label_emotion"] == r["target_emotion"] for r in others)
    table = np.load(tmp_path / "out" / "labels.npy", allow_pickle=False)
    assert len(table) == len(labelled) and table.dtype.names == ("image", "emotion", "emotion_index", "au",
                                                                  "au_intensity")
    with open(tmp_path / "out" / "labels.csv") as fh:
        header = fh.readline().strip().split(",")
    assert header[:3] == ["image", "emotion", "emotion_index"] and "AU12" in header and "AU12_intensity" in header
    row = table[[str(n) for n in table["image"]].index(happy["path"].split("/")[1])]
    assert row["emotion"] == "happy" and row["au"][list(AnnotateParams().au_units).index(12)] == 1
    page = (tmp_path / "out" / "seed_review.html").read_text()
    assert "saveSeedList" in page and f'data-seed="{seed}"' in page and "data:image/jpeg;base64" in page


def test_whole_identities_top_k_keeps_people_whole():
    from components.select.selection import whole_identities_top_k

    identities = [f"id{i // 7}" for i in range(35)] + ["id5"] * 3  # five people with 7 images, one with 3
    scores = np.array([float(-(i // 7)) for i in range(35)] + [-0.5] * 3)  # id0 best, then id5, id1, ...
    chosen = whole_identities_top_k(identities, scores, 20)
    kept = {identities[i] for i in chosen}
    assert kept == {"id0", "id5", "id1"} and len(chosen) == 17  # id2 (7 more) no longer fits in 20
    assert all(sum(identities[i] == ident for i in chosen) == identities.count(ident) for ident in kept)


def test_select_can_keep_whole_identities(adapted, tmp_path):
    from components.common.manifest import identity_key

    rows = read_manifest(adapted)
    k = len(rows) // 2
    select_run(SelectParams(batch_size=len(rows), top_k=k, keep="identities", fid=False), adapted, tmp_path)
    with open(tmp_path / "selection.csv") as fh:
        passed = {r["id"] for r in csv.DictReader(fh) if r["reason"] in ("", "not_in_top_k")}
    eligible = Counter(identity_key(r) for r in rows if r["id"] in passed)
    kept = Counter(identity_key(r) for r in read_manifest(tmp_path))
    assert kept and all(kept[ident] == eligible[ident] for ident in kept)  # nobody kept in part
    assert sum(kept.values()) <= k < sum(eligible.values())  # top_k left someone out, whole


def test_images_of_a_face_that_is_not_at_rest_are_left_out(adapted, tmp_path):
    from components.annotate.neutral import not_at_rest
    from components.common.landmarks import eye_centres

    rows = read_manifest(adapted)
    at_rest = np.array(rows[0]["landmarks68"], float)  # a generated face, its mouth then put at rest:
    at_rest[[65, 66, 67]] = at_rest[[63, 62, 61]]  # lips closed
    at_rest[[48, 54], 1] = at_rest[62, 1]  # corners level with the seam
    assert not_at_rest(at_rest, 0.06) is None
    iod = float(np.linalg.norm(np.subtract(*eye_centres(at_rest))))
    talking = at_rest.copy()
    talking[[65, 66, 67], 1] += 0.15 * iod  # the lower inner lip drops
    assert "mouth open" in not_at_rest(talking, 0.06)
    smiling = at_rest.copy()
    smiling[[48, 54], 1] -= 0.12 * iod  # both corners rise
    assert "corners raised" in not_at_rest(smiling, 0.06)

    # In the stage: one seed's face talks; its images, unedited and edited, are left out with the reason.
    flow = tmp_path / "in"
    shutil.copytree(adapted, flow)
    seed = rows[0]["seed"]
    for row in rows:
        row["landmarks68"] = (talking if row["seed"] == seed else at_rest).round(2).tolist()
    write_manifest(flow, rows)
    counts = annotate_run(AnnotateParams(neutral_mouth_limit=0.06), flow, tmp_path / "out")
    labelled = read_manifest(tmp_path / "out")
    talking_rows = sum(r["seed"] == seed for r in rows)
    assert talking_rows >= 3 and not any(r["seed"] == seed for r in labelled)
    assert counts["rejected"] == {"source_not_neutral": talking_rows}
    assert len(labelled) == len(rows) - talking_rows
    assert {r["target_emotion"] for r in labelled} == set(EMOTIONS)
    # A person's seed list is trusted over the measurement, and 0 turns the check off.
    seed_list = tmp_path / "seeds.yaml"
    seed_list.write_text(f"seeds:\n  {seed}: {{emotion: neutral}}\n")
    reviewed = AnnotateParams(seed_list=str(seed_list), neutral_mouth_limit=0.06)
    assert annotate_run(reviewed, flow, tmp_path / "out2")["rejected"] == {}
    assert annotate_run(AnnotateParams(), flow, tmp_path / "out3")["rejected"] == {}  # off by default
