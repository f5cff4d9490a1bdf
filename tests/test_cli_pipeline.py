import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from components.cli import main
from components.common.manifest import read_manifest
from components.stages import PIPELINE_STAGES as STAGE_OUTPUTS
from pipelines.local_run import resolve_config


def test_stage_subcommand(tmp_path, capsys):
    code = main(["identity", "--count", "3", "--seed-start", "100", "--preview-seeds", "0",
                 "--out", str(tmp_path / "ids")])
    assert code == 0
    rows = read_manifest(tmp_path / "ids")
    assert {r["seed"] for r in rows} <= {100, 101, 102} and rows
    assert "identity:" in capsys.readouterr().out


def test_bad_parameters_exit_2_with_a_reason(tmp_path, capsys):
    assert main(["identity", "--count", "0", "--out", str(tmp_path)]) == 2
    assert "count: Input should be greater than or equal to 1" in capsys.readouterr().err
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("identity: {count: 3}\nexpresion: {}\n")
    assert main(["run", "--config", str(cfg), "--out", str(tmp_path / "run")]) == 2
    assert "unknown stage sections ['expresion']" in capsys.readouterr().err


def test_missing_weights_is_a_clear_error(tmp_path, capsys):
    code = main(["identity", "--backend", "stylegan2", "--weights", str(tmp_path / "none.pkl"),
                 "--out", str(tmp_path / "o")])
    assert code == 1
    assert "none.pkl: weights file not found" in capsys.readouterr().err


@pytest.mark.integration  # a whole pipeline run
def test_embedded_run_goes_through_kfp_local(tmp_path):
    cfg = tmp_path / "small.yaml"
    cfg.write_text(yaml.safe_dump({"identity": {"count": 6, "preview_seeds": 2, "pca_samples": 128,
                                                "pca_components": 4, "preview_degrees": [-1.0, 1.0]},
                                   "expression": {"emotions": ["neutral", "happy", "sad"]},
                                   "adapt": {"output_size": 64},
                                   "select": {"batch_size": 6, "top_k": 5, "fid_images": 6},
                                   "train": {"epochs": 1, "batch_size": 4, "val_fraction": 0.3,
                                             "test_fraction": 0.3, "classes": ["neutral", "happy", "sad"]}}))
    run_dir = tmp_path / "run"
    # A separate process, as a user runs it: the KFP runner launches the stage as a subprocess too.
    result = subprocess.run([sys.executable, "-m", "components.cli", "run", "--config", str(cfg),
                             "--out", str(run_dir)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    # The console: one result line per stage and the headline; KFP's executor output is in the logs.
    console = result.stdout.splitlines()
    assert len(console) <= 20 and "executor" not in result.stdout + result.stderr, result.stdout
    assert sorted(line.split()[0] for line in console[:10]) == sorted(STAGE_OUTPUTS), console
    assert console[10].startswith("run finished in") and console[-1].endswith(str(run_dir / "report.html"))
    for stage in STAGE_OUTPUTS:
        assert "Executing task" in (run_dir / "logs" / f"{stage}.log").read_text()
    summary = json.loads((run_dir / "summary.json").read_text())
    counts = summary["stages"]["identity"]["counts"]
    assert counts["planned"] == 6 and counts["identities"] == len(read_manifest(run_dir / "identity"))
    assert (run_dir / "identity" / "preview.png").exists()
    assert (run_dir / "identity").resolve().is_relative_to(run_dir / "kfp")  # a KFP artifact
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["identity"]["count"] == 6
    images = read_manifest(run_dir / "adapt")
    assert len(images) == summary["stages"]["expression"]["counts"]["images"] > 0
    assert len(images) % 3 == 0  # every kept identity has all three expressions
    assert {r["target_emotion"] for r in images} == {"neutral", "happy", "sad"}
    assert (run_dir / summary["contact_sheet"]).exists()
    for stage in ("identity", "expression", "adapt", "select", "annotate"):
        assert (run_dir / stage).resolve().is_relative_to(run_dir / "kfp")
    labelled = read_manifest(run_dir / "annotate")
    assert len(labelled) == summary["stages"]["select"]["counts"]["kept"] <= len(images)
    assert all(r["label_emotion"] == r["target_emotion"] for r in labelled)
    assert (run_dir / summary["quality_report"]).exists() and (run_dir / summary["labels"]).exists()
    assert_headline_matches_evaluation(run_dir)
    assert (run_dir / "export" / "fersynth_fer" / "1" / "model.onnx").exists()
    assert (run_dir / "evaluate" / "report.html").exists()
    checked = read_manifest(run_dir / "privacy")
    assert len(checked) == len(labelled) and all(r["privacy_distance"] is not None for r in checked)
    assert summary["privacy"]["references"] >= 1 and (run_dir / summary["privacy"]["report"]).exists()
    assert (run_dir / summary["bias"]["report"]).exists()
    report = (run_dir / summary["report"]).read_text()
    for heading in ("Where the time went", "Stages", "Faces", "Quality selection", "Evaluation", "Privacy", "Bias"):
        assert f"<h2>{heading}</h2>" in report
    assert report.count('class="card"') >= 7 and "true \\ predicted" in report
    assert report.count("data:image/png;base64,") >= 4  # time chart, distance histogram, balance, skin tone
    assert report.count("data:image/jpeg;base64,") >= len(images)  # the contact sheet: every edit, full size
    assert (run_dir / summary["report"]).stat().st_size < 15e6
    broken, overflow = open_in_browser(run_dir / summary["report"], tmp_path)
    assert broken == 0 and overflow <= 0  # every image decodes, nothing is wider than a 1280 px window


def open_in_browser(report: Path, tmp_path: Path) -> tuple[int, int]:
    """Open the report in headless Chromium at 1280 px: (images that did not decode, pixels the page is
    wider than the window)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("headless browser check needs Debian's chromium (.ci/run installs it)")
    probe = tmp_path / "probe.html"
    probe.write_text(report.read_text().replace("</body>", (
        '<script>window.addEventListener("load", () => { const all = [...document.images]; document.title = '
        '"images " + all.length + " broken " + all.filter(i => !i.complete || i.naturalWidth === 0).length + '
        '" overflow " + (document.documentElement.scrollWidth - document.documentElement.clientWidth); '
        "});</script></body>")))
    dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000",
                          "--window-size=1280,1000", "--dump-dom", probe.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    found = re.search(r"<title>images (\d+) broken (\d+) overflow (-?\d+)</title>", dom)
    assert found and int(found.group(1)) > 10, dom[:500]
    return int(found.group(2)), int(found.group(3))


def assert_headline_matches_evaluation(run_dir: Path) -> None:
    """summary.json's held-out accuracy is the evaluate stage's own figure, a fraction."""
    summary = json.loads((run_dir / "summary.json").read_text())
    metrics = json.loads((run_dir / "evaluate" / "metrics.json").read_text())["sets"]["synthetic held-out"]
    assert 0.0 <= summary["held_out_synthetic"]["accuracy"] == metrics["accuracy"] <= 1.0


def test_demo_config_is_valid_and_big_enough():
    params = resolve_config(None)
    assert params["identity"]["backend"] == "dcgan64" and params["identity"]["count"] >= 200


def test_pipeline_compiles_with_the_stage_image(tmp_path):
    from kfp import compiler

    from components.common.images import stage_image
    from pipelines.fer_pipeline import fer_pipeline

    compiler.Compiler().compile(fer_pipeline, str(tmp_path / "p.yaml"))
    docs = list(yaml.safe_load_all((tmp_path / "p.yaml").read_text()))
    executors = docs[0]["deploymentSpec"]["executors"]
    images = {e["container"]["image"] for e in executors.values()}
    assert images == {stage_image(s) for s in ("identity", "expression", "adapt", "select", "annotate", "privacy",
                                                "train", "evaluate", "bias", "export")}
    inputs = docs[0]["root"]["inputDefinitions"]["parameters"]
    assert inputs["identity_backend"]["defaultValue"] == "dcgan64"
    assert inputs["identity_weights"]["defaultValue"] == ""  # None: an empty text input


@pytest.mark.integration  # a whole pipeline run
def test_rerun_after_a_failure_reuses_finished_stages(tmp_path):
    """A run that dies in train keeps identity..annotate; the re-run reuses them and finishes."""
    base = {"identity": {"count": 6, "preview_seeds": 0, "pca_samples": 128, "pca_components": 4},
            "expression": {"emotions": ["neutral", "happy", "sad"]}, "adapt": {"output_size": 64},
            "select": {"batch_size": 6, "top_k": 5, "fid_images": 6},
            "train": {"epochs": 1, "batch_size": 4, "val_fraction": 0.3, "test_fraction": 0.3,
                      "classes": ["neutral", "happy", "sad"]}}
    broken = {**base, "train": {**base["train"], "real": [f"folder:{tmp_path / 'missing'}"]}}
    run_dir = tmp_path / "run"
    for config, expected in ((broken, 1), (base, 0)):
        cfg = tmp_path / "cfg.yaml"
        cfg.write_text(yaml.safe_dump(config))
        result = subprocess.run([sys.executable, "-m", "components.cli", "run", "--config", str(cfg),
                                 "--out", str(run_dir)], capture_output=True, text=True, timeout=600)
        assert result.returncode == expected, result.stderr[-2000:]
        if expected == 1:
            assert "missing: not a directory" in result.stdout + result.stderr
            finished = {p.parent.name: p.stat().st_mtime_ns for p in (run_dir / "kfp" / "stage-cache").glob("*/stage.json")}
            assert {name.split("-")[0] for name in finished} == {"identity", "expression", "adapt", "select",
                                                                 "annotate", "privacy"}
    for name, mtime in finished.items():  # reused, not recomputed
        assert (run_dir / "kfp" / "stage-cache" / name / "stage.json").stat().st_mtime_ns == mtime
    assert_headline_matches_evaluation(run_dir)
    assert (run_dir / "export" / "fersynth_fer" / "config.pbtxt").exists()
