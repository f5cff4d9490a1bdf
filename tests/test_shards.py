"""Sharded per-image stages: each shard a contiguous part of the plan, merged into the very dataset one
worker makes (components/common/shards.py)."""
import hashlib
import json
from pathlib import Path

import pytest

from components.adapt.params import AdaptParams
from components.adapt.run import run as adapt
from components.common.shards import SHARD_FILE, Shard, ShardError, merge_parts
from components.expression.params import ExpressionParams
from components.expression.run import run as expression
from components.identity.params import IdentityParams
from components.identity.run import run as identity
from components.privacy.params import PrivacyParams
from components.privacy.run import run as privacy


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7])
@pytest.mark.parametrize("align", [1, 3])
def test_shards_cover_the_plan_once_in_whole_groups(count, align):
    items = [(group, n) for group in range(10) for n in range(3)]  # 10 groups of 3 consecutive items
    parts = [Shard(i, count).take(items, group=lambda item: item[0], align=align) for i in range(count)]
    assert [item for part in parts for item in part] == items, "contiguous, in order, each item once"
    for part in parts:
        groups = {g for g, _ in part}
        assert all(sum(1 for g, _ in part if g == group) == 3 for group in groups), "groups stay whole"
        if part and part[0] != items[0]:
            assert part[0][0] % align == 0, "a shard starts on a batch boundary"
    sizes = sorted(len({g for g, _ in part}) for part in parts)
    assert sizes[-1] - sizes[0] <= 2 * align, "near-equal parts"


def test_bad_shard_specs_are_refused():
    assert Shard.parse("2/4") == Shard(2, 4)
    for text in ("4/4", "-1/2", "1", "a/b", "0/0"):
        with pytest.raises(ShardError):
            Shard.parse(text)


def _digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and (path.suffix == ".png" or path.name == "manifest.csv"):
            digest.update(str(path.relative_to(folder)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _in_shards(run, params, inputs, out: Path, count: int) -> Path:
    parts = [out.with_name(f"{out.name}-part{i}") for i in range(count)]
    for index, part in enumerate(parts):
        run(params, *inputs, part, shard=Shard(index, count))
    merge_parts(parts, out)
    run(params, *inputs, out)  # finds every image finished: writes the manifest, sheets and stage.json
    return out


@pytest.mark.integration  # five stages, whole and in four shards
def test_one_and_four_shards_make_the_same_bytes(tmp_path, monkeypatch):
    import components.select.run as select_run
    from components.select.params import SelectParams

    monkeypatch.setattr(select_run, "CHUNK", 8)  # select scores in chunks of 64: make 30 images several chunks
    # 10 identities in batches of 4: three blocks over four shards, so one shard is empty
    stages = [(identity, IdentityParams(count=10, preview_seeds=2, pca_samples=128, pca_components=4, batch_size=4)),
              (expression, ExpressionParams(emotions=["neutral", "happy", "surprise"])),
              (adapt, AdaptParams(output_size=64)),
              (select_run.run, SelectParams(batch_size=15, top_k=12, fid_images=16)),
              (privacy, PrivacyParams())]
    whole, sharded = [], []
    for n, (run, params) in enumerate(stages):
        whole.append(tmp_path / f"whole{n}")
        run(params, *whole[-2:-1], whole[-1])
        sharded.append(_in_shards(run, params, sharded[-1:], tmp_path / f"sharded{n}", 4))
        assert _digest(whole[-1]) == _digest(sharded[-1]), f"{run.__module__}: 1 and 4 shards differ"
        counts = [json.loads((folder / "stage.json").read_text())["counts"] for folder in (whole[-1], sharded[-1])]
        for each in counts:
            each.pop("reference", None)  # names the input folder, which differs
        assert counts[0] == counts[1]
    assert len(list((sharded[2] / "images").glob("*.png"))) == 30
    kept = json.loads((sharded[3] / "stage.json").read_text())["counts"]["kept"]
    assert 0 < kept < 30 and (sharded[3] / "selection.csv").read_bytes() == (whole[3] / "selection.csv").read_bytes()
    reports = [json.loads((folder / "privacy.json").read_text()) for folder in (whole[4], sharded[4])]
    # dlib may find no face on an identity's few kept 64 px images; most are described
    assert reports[0]["per_identity"] == reports[1]["per_identity"] and 8 <= reports[0]["described"] <= 10


def test_merge_refuses_an_incomplete_or_mixed_set(tmp_path):
    params = IdentityParams(count=4, preview_seeds=0, pca_samples=128, pca_components=4, batch_size=2)
    parts = [tmp_path / f"p{i}" for i in range(2)]
    for index, part in enumerate(parts):
        identity(params, part, shard=Shard(index, 2))
    with pytest.raises(ShardError, match="need each of 0..1 of 2 exactly once"):
        merge_parts(parts[:1], tmp_path / "merged")
    with pytest.raises(ShardError, match="not a shard part"):
        merge_parts([parts[0], tmp_path], tmp_path / "merged")
    other = tmp_path / "other"
    identity(params.model_copy(update={"seed_start": 50}), other, shard=Shard(1, 2))
    with pytest.raises(ShardError, match="different parameters"):
        merge_parts([parts[0], other], tmp_path / "merged")
    assert json.loads((parts[1] / SHARD_FILE).read_text())["counts"]["identities"] == 2


def test_command_line_shards_and_merge(tmp_path, capsys):
    from components.cli import main

    common = ["identity", "--count", "4", "--preview-seeds", "0", "--pca-samples", "128", "--pca-components", "4",
              "--batch-size", "2"]
    assert main([*common, "--out", str(tmp_path / "whole")]) == 0
    for index in range(2):
        assert main([*common, "--shard", f"{index}/2", "--out", str(tmp_path / f"part{index}")]) == 0
    assert not (tmp_path / "part0" / "manifest.csv").exists(), "a part is not a dataset yet"
    parts = [str(tmp_path / "part0"), str(tmp_path / "part1")]
    assert main([*common, "--merge", *parts, "--out", str(tmp_path / "merged")]) == 0
    assert _digest(tmp_path / "merged") == _digest(tmp_path / "whole")
    assert main([*common, "--shard", "2/2", "--out", str(tmp_path / "bad")]) == 1
    assert "shard 2/2: needs count >= 1 and 0 <= index < count" in capsys.readouterr().err


@pytest.mark.integration  # two whole pipeline runs through kfp.local
def test_pipeline_with_one_or_four_shards_makes_the_same_datasets(tmp_path):
    import subprocess
    import sys

    import yaml

    config = tmp_path / "small.yaml"
    config.write_text(yaml.safe_dump({
        "identity": {"count": 8, "preview_seeds": 2, "pca_samples": 128, "pca_components": 4, "batch_size": 2},
        "expression": {"emotions": ["neutral", "happy", "sad"]}, "adapt": {"output_size": 64},
        "select": {"batch_size": 8, "top_k": 6, "fid_images": 8},
        "train": {"epochs": 1, "batch_size": 4, "val_fraction": 0.3, "test_fraction": 0.3,
                  "classes": ["neutral", "happy", "sad"]}}))
    runs = {}
    for shards in (1, 4):
        runs[shards] = tmp_path / f"shards{shards}"
        result = subprocess.run([sys.executable, "-m", "components.cli", "run", "--config", str(config), "--shards",
                                 str(shards), "--out", str(runs[shards])], capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, result.stderr[-3000:]
        assert len(result.stdout.splitlines()) <= 20, "one result line per stage, shards or not"
        # KFP's parallel tasks can leave an indenting print behind (local_run.print_guard)
        assert not any(line.startswith("    ") for line in result.stdout.splitlines()), result.stdout
    for stage in ("identity", "expression", "adapt", "select", "annotate", "privacy"):
        assert _digest(runs[1] / stage) == _digest(runs[4] / stage), f"{stage}: 1 and 4 shards differ"
    info = json.loads((runs[4] / "identity" / "stage.json").read_text())
    assert info["shards"]["count"] == 4 and info["counts"]["identities"] == 8
