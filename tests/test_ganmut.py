import json

import cv2
import numpy as np
import pytest
import torch

from components.common.manifest import read_manifest
from components.expression.ganmut_train import run as train
from components.expression.params import GANmutTrainParams
from components.expression.params import ExpressionParams
from components.expression.run import run as expression_run
from components.identity.params import IdentityParams
from components.identity.run import run as identity_run
from models.checkpoints import CheckpointError
from models.ganmut import GANmutDiscriminator, GANmutGenerator

TINY = dict(image_size=32, base_channels=8, res_blocks=1, batch_size=12, save_every=40, lr=5e-4)


@pytest.fixture(scope="module")
def folder(tmp_path_factory, astronaut):
    """ImageFolder tree with three classes that differ visibly (brightness and mouth band)."""
    root = tmp_path_factory.mktemp("faces")
    face = cv2.resize(astronaut[60:260, 140:300], (64, 64))
    rng = np.random.RandomState(0)
    for name, gain in (("neutral", 1.0), ("happiness", 1.35), ("Sad", 0.6)):
        (root / name).mkdir()
        for i in range(8):
            img = np.clip(face * gain + rng.randn(*face.shape) * 6, 0, 255).astype(np.uint8)
            cv2.imwrite(str(root / name / f"{i}.png"), img)
    (root / "notes").mkdir()  # not an emotion: reported and skipped
    (root / "Sad" / "broken.png").write_bytes(b"not a png")
    return root


def _mean(history, key, part):
    values = [h[key] for h in history]
    return float(np.mean(values[:10] if part == "first" else values[-10:]))


def test_networks_shapes():
    gen = GANmutGenerator(["happy", "sad"], base_channels=8, res_blocks=1)
    out, attention = gen(torch.zeros(2, 3, 32, 32), torch.zeros(2, 2))
    assert out.shape == (2, 3, 32, 32) and attention.shape == (2, 1, 32, 32)
    rf, cls, code = GANmutDiscriminator(2, 32, 8, depth=3)(out)
    assert cls.shape == (2, 2) and code.shape == (2, 2) and rf.shape[1] == 1
    assert torch.allclose(gen.axes.unit().norm(dim=1), torch.ones(2))


def test_training_reduces_losses_and_resumes(folder, tmp_path):
    result = train(GANmutTrainParams(steps=80, **TINY), folder, tmp_path)
    assert result["emotions"] == ["neutral", "happy", "sad"] and result["images"] == 24
    assert any("notes" in p for p in result["problems"]) and any("broken.png" in p for p in result["problems"])
    history = [json.loads(line) for line in (tmp_path / "losses.jsonl").read_text().splitlines()]
    assert len(history) == 80
    assert _mean(history, "g_cycle", "last") < 0.7 * _mean(history, "g_cycle", "first")
    assert _mean(history, "d_cls", "last") < 0.7 * _mean(history, "d_cls", "first")
    assert (tmp_path / "samples" / "step_0000080.png").exists()
    resumed = train(GANmutTrainParams(steps=90, **TINY), folder, tmp_path)
    assert resumed["steps"] == 90
    assert len((tmp_path / "losses.jsonl").read_text().splitlines()) == 90  # continued, not restarted
    with pytest.raises(CheckpointError, match="other emotions or architecture"):
        train(GANmutTrainParams(steps=95, **{**TINY, "base_channels": 16}), folder, tmp_path)


def test_ganmut_editor_in_the_expression_stage(folder, tmp_path):
    train(GANmutTrainParams(steps=20, **TINY), folder, tmp_path / "ckpt")
    ids = tmp_path / "ids"
    identity_run(IdentityParams(count=3, preview_seeds=0), ids)
    params = ExpressionParams(editor="ganmut", checkpoint=str(tmp_path / "ckpt" / "checkpoint.pt"),
                              emotions=["neutral", "happy", "sad"], polar_thetas=[330.0], sheet_identities=0)
    counts = expression_run(params, ids, tmp_path / "out")
    rows = read_manifest(tmp_path / "out")
    assert counts["images"] == len(rows) > 0 and {r["editor"] for r in rows} == {"ganmut"}
    happy = next(r for r in rows if r["target_emotion"] == "happy")
    parent = cv2.imread(str(ids / "images" / f"{happy['parent_id']}.png"))
    assert not np.array_equal(cv2.imread(str(tmp_path / "out" / happy["path"])), parent)
    with pytest.raises(ValueError, match="not trained on \\['anger'\\]"):
        expression_run(params.model_copy(update={"emotions": ["anger"]}), ids, tmp_path / "other")


def test_checkpoint_loading_never_runs_code(tmp_path):
    import os

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'PWNED'}",))

    torch.save({"generator": Evil()}, tmp_path / "evil.pt")
    ids = tmp_path / "ids"
    from components.expression.ganmut_editor import GANmutEditor

    with pytest.raises(CheckpointError, match="refused"):
        GANmutEditor(ExpressionParams(editor="ganmut", checkpoint=str(tmp_path / "evil.pt"),
                                      emotions=["happy"]), ids)
    assert not (tmp_path / "PWNED").exists()
