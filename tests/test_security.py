"""Every weight, checkpoint and pickle loader refuses code execution; checksums are enforced;
secrets never reach logs, reports or compiled pipelines; served repositories run only our code."""
import os
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from components.cli import main as cli
from models.checkpoints import CheckpointError, load_stylegan_pickle, load_torch_weights


class _Payload:
    """Unpickling this runs `touch MARKER` — unless the loader refuses globals."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture()
def hostile(tmp_path):
    marker = tmp_path / "PWNED"
    torch_file = tmp_path / "hostile.pt"
    torch.save({"model_state": _Payload(marker), "netG_state_dict": _Payload(marker)}, torch_file)
    pickle_file = tmp_path / "hostile.pkl"
    pickle_file.write_bytes(pickle.dumps({"G_ema": _Payload(marker)}))
    return {"marker": marker, "pt": torch_file, "pkl": pickle_file}


def test_direct_loaders_refuse_code(hostile):
    with pytest.raises(CheckpointError):
        load_torch_weights(hostile["pt"])
    with pytest.raises(CheckpointError, match="os.system|posix.system"):
        load_stylegan_pickle(hostile["pkl"])
    assert not hostile["marker"].exists()


def test_brisque_scaling_table_refuses_globals(hostile, tmp_path):
    from components.select.brisque import load_model, model_dir

    folder = tmp_path / "brisque"
    folder.mkdir()
    shutil.copy(model_dir() / "svm.txt", folder / "svm.txt")
    shutil.copy(hostile["pkl"], folder / "normalize.pickle")
    with pytest.raises(pickle.UnpicklingError, match="refused global"):
        load_model(str(folder))
    assert not hostile["marker"].exists()


@pytest.mark.parametrize("argv", [
    ["identity", "--backend", "stylegan2", "--weights", "{pkl}", "--count", "1", "--out", "{out}"],
    ["identity", "--backend", "dcgan64", "--weights", "{pt}", "--count", "1", "--out", "{out}"],
    ["train", "--in", "{dataset}", "--model", "resnet18", "--weights", "{pt}", "--epochs", "1", "--out", "{out}"],
    ["evaluate", "--in", "{dataset}", "--model-dir", "{model_dir}", "--out", "{out}"],
    ["export", "--in", "{model_dir}", "--out", "{out}"],
    ["expression", "--in", "{ids}", "--editor", "ganmut", "--checkpoint", "{pt}", "--out", "{out}"],
], ids=["stylegan2 pickle", "dcgan weights", "resnet18 backbone", "evaluate model.pt", "export model.pt",
        "ganmut checkpoint"])
def test_every_cli_weight_input_refuses_code(argv, hostile, toy_dataset, tmp_path, capsys):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    shutil.copy(hostile["pt"], model_dir / "model.pt")
    ids = tmp_path / "ids"
    if "{ids}" in argv:
        assert cli(["identity", "--count", "2", "--preview-seeds", "0", "--out", str(ids)]) == 0
    values = {"pkl": hostile["pkl"], "pt": hostile["pt"], "out": tmp_path / "out", "dataset": toy_dataset,
              "model_dir": model_dir, "ids": ids}
    code = cli([a.format(**values) for a in argv])
    assert code != 0
    assert not hostile["marker"].exists()
    err = capsys.readouterr().err
    assert "hostile.p" in err or "model.pt" in err, err  # the refusal names the file


def test_weights_checksum_is_enforced(tmp_path, capsys):
    from models.dcgan import packaged_dcgan_weights

    weights = packaged_dcgan_weights()
    assert cli(["identity", "--weights", str(weights), "--weights-sha256", "0" * 64, "--count", "1",
                "--out", str(tmp_path / "ids")]) == 1
    assert "does not match the expected" in capsys.readouterr().err


def test_served_repository_runs_only_our_model_code(trained, toy_dataset, tmp_path):
    """A model.py planted in a repository is never what the embedded Triton runs."""
    from components.export.params import ExportParams
    from components.export.run import run as export
    from components.serve.repository import PYTHON_MODEL, RepositoryError, embedded_copy

    repo = tmp_path / "repo"
    export(ExportParams(name="fer"), trained[0], repo, dataset_dir=toy_dataset)
    (repo / "fer" / "1" / "model.py").write_text("import os; os.system('touch PWNED')\n")
    embedded_copy(repo, tmp_path / "served")
    assert (tmp_path / "served" / "fer" / "1" / "model.py").read_text() == PYTHON_MODEL.read_text()
    config = repo / "fer" / "config.pbtxt"
    config.write_text(config.read_text().replace('platform: "onnxruntime_onnx"', 'backend: "python"'))
    with pytest.raises(RepositoryError, match="not an ONNX Runtime model"):
        embedded_copy(repo, tmp_path / "served2")


def test_secrets_never_reach_logs_reports_or_pipelines(s3_env, tmp_path, capsys, caplog, monkeypatch):
    import logging

    caplog.set_level(logging.DEBUG)
    s3_env.bucket("secrets-check")
    monkeypatch.setenv("FERSYNTH_CACHE", str(tmp_path / "cache"))
    assert cli(["-v", "identity", "--count", "2", "--preview-seeds", "0", "--out", "s3://secrets-check/ids"]) == 0
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-" + s3_env.secret_key)
    assert cli(["identity", "--count", "2", "--out", "s3://secrets-check/ids2"]) == 1
    outputs = capsys.readouterr()
    texts = [outputs.out, outputs.err, caplog.text]
    texts += [p.read_text(errors="replace") for p in (tmp_path / "cache").rglob("*") if p.is_file()
              and p.suffix in (".json", ".csv", ".jsonl", ".yaml", ".html")]
    repo = Path(__file__).resolve().parents[1]
    texts += [p.read_text() for p in (repo / "pipelines" / "compiled").glob("*.yaml")]
    for text in texts:
        assert s3_env.secret_key not in text
