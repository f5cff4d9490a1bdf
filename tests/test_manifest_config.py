import argparse

import pytest

from components.common.config import ConfigError, add_arguments, from_args, load_config
from components.common.journal import Journal, JournalError
from components.common.manifest import (ManifestError, add_columns, read_manifest, write_manifest)
from components.identity.params import IdentityParams

ROW = {"id": "7_000000", "path": "images/7_000000.png", "seed": 7, "latent_degree": 1.5,
       "landmarks": [[1.0, 2.0]] * 5, "backend": "dcgan64"}


def test_manifest_roundtrip_types(tmp_path):
    write_manifest(tmp_path, [ROW])
    (row,) = read_manifest(tmp_path)
    assert row == ROW
    header = (tmp_path / "manifest.csv").read_text().splitlines()[0]
    assert header.startswith("id,path,seed")  # schema order, not insertion order


def test_manifest_refuses_unknown_and_foreign_columns(tmp_path):
    with pytest.raises(ManifestError, match="not in the manifest schema"):
        write_manifest(tmp_path, [{**ROW, "mystery": 1}])
    with pytest.raises(ManifestError, match="owned by 'identity'"):
        add_columns([ROW], "expression", {"seed": [1]})
    with pytest.raises(ManifestError, match="1 values for 2 rows"):
        add_columns([ROW, ROW], "identity", {"seed": [1]})


def test_manifest_bad_value_names_line(tmp_path):
    (tmp_path / "manifest.csv").write_text("id,path,seed\na,images/a.png,notanint\n")
    with pytest.raises(ManifestError, match=r"manifest.csv:2: column 'seed'"):
        read_manifest(tmp_path)
    with pytest.raises(ManifestError, match="manifest not found"):
        read_manifest(tmp_path / "nowhere")


def test_cli_flags_come_from_the_model():
    parser = argparse.ArgumentParser()
    add_arguments(parser, IdentityParams)
    args = parser.parse_args(["--count", "5", "--latent-degrees", "-1", "1", "--backend", "stylegan2",
                              "--weights", "g.pkl"])
    params = from_args(IdentityParams, args, {"count": 9, "crop_size": 64})
    assert params.count == 5 and params.crop_size == 64 and params.latent_degrees == [-1.0, 1.0]
    with pytest.raises(SystemExit):
        parser.parse_args(["--backend", "biggan"])


def test_config_errors_are_readable(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("identity: {count: [}")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="mapping of stage name"):
        load_config(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    parser = argparse.ArgumentParser()
    add_arguments(parser, IdentityParams)
    with pytest.raises(ConfigError, match="countt: Extra inputs are not permitted"):
        from_args(IdentityParams, parser.parse_args([]), {"countt": 3}, where="x.yaml")
    with pytest.raises(ConfigError, match="needs 'source'"):
        from_args(IdentityParams, parser.parse_args(["--backend", "folder"]))


def test_journal_resumes_and_refuses_other_params(tmp_path):
    with Journal(tmp_path, {"a": 1}) as journal:
        journal.record_ok("k1", {"id": "k1"})
        journal.record_rejected("k2", "no_face", "seed 2: no face")
    with open(tmp_path / ".journal.jsonl", "a") as fh:
        fh.write('{"status": "ok", "key": "k3", "ro')  # torn line from a crash
    with Journal(tmp_path, {"a": 1}) as journal:
        assert journal.finished("k1") and journal.finished("k2") and not journal.finished("k3")
        journal.record_ok("k3", {"id": "k3"})
    with Journal(tmp_path, {"a": 1}) as journal:
        assert set(journal.done) == {"k1", "k3"}
    with pytest.raises(JournalError, match="different parameters"):
        Journal(tmp_path, {"a": 2})


def test_journal_lock_refuses_a_second_writer(tmp_path):
    with Journal(tmp_path, {}):
        with pytest.raises(JournalError, match="another fersynth process"):
            Journal(tmp_path, {})
