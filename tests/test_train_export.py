import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from components.common.fer_preprocess import PreprocessSpec, preprocess
from components.common.imageio import write_image
from components.common.manifest import write_manifest
from components.evaluate.params import EvaluateParams
from components.evaluate.run import run as evaluate
from components.export.params import ExportParams
from components.export.run import run as export
from components.train.params import TrainParams
from components.train.run import run as train
from models.checkpoints import CheckpointError

from .toy_fer import CLASSES, FAST


def test_training_reduces_loss_and_learns(trained):
    out, counts = trained
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert history[-1]["loss"] < 0.6 * history[0]["loss"]
    assert counts["best_val_score"] > 0.6  # chance is 1/3
    split = json.loads((out / "split.json").read_text())
    assert split["test_samples"] > 0 and split["val_samples"] > 0


def test_resume_continues_from_the_last_epoch(toy_dataset, tmp_path):
    params = dict(FAST, epochs=2)
    train(TrainParams(**params), toy_dataset, tmp_path)
    counts = train(TrainParams(**dict(params, epochs=2)), toy_dataset, tmp_path)  # nothing left to do
    assert counts["epochs_run"] == 2
    lines = (tmp_path / "history.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
    with pytest.raises(CheckpointError, match="other parameters"):
        train(TrainParams(**dict(params, lr=1e-4)), toy_dataset, tmp_path)


def test_a_moving_average_of_the_weights_is_what_is_kept_and_resumed(toy_dataset, tmp_path):
    import torch

    params = TrainParams(**dict(FAST, epochs=1, patience=1, ema_decay=0.5))
    first = train(params, toy_dataset, tmp_path)
    last = torch.load(tmp_path / "last.pt", weights_only=True)
    kept = torch.load(tmp_path / "model.pt", weights_only=True)["model_state"]  # epoch 1, the only one
    averaged = {k.removeprefix("module."): v for k, v in last["averaged"].items() if k.startswith("module.")}
    assert kept.keys() == averaged.keys()
    assert all(torch.equal(kept[k], averaged[k]) for k in kept)
    name = next(k for k, v in last["model_state"].items() if v.is_floating_point() and v.ndim > 1)
    assert not torch.equal(kept[name], last["model_state"][name])  # an average, not the last step's weights
    again = train(params, toy_dataset, tmp_path)  # nothing left to do: the average comes back from last.pt
    assert again["train_loss"] == first["train_loss"]


def test_au_model_reports_roc_auc(toy_dataset, tmp_path):
    train(TrainParams(**dict(FAST, task="au", au_units=[12], epochs=3)), toy_dataset, tmp_path / "m")
    evaluate(EvaluateParams(), toy_dataset, tmp_path / "e", model_dir=tmp_path / "m")
    result = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert 0.0 <= result["sets"]["synthetic held-out"]["roc_auc"]["AU12"] <= 1.0


def test_evaluate_writes_metrics_confusion_and_cross_table(toy_dataset, trained, tmp_path):
    model_dir, _ = trained
    evaluate(EvaluateParams(test_sets=[f"fersynth:{toy_dataset}"]), toy_dataset, tmp_path, model_dir=model_dir)
    result = json.loads((tmp_path / "metrics.json").read_text())
    held_out = result["sets"]["synthetic held-out"]
    assert held_out["accuracy"] > 0.5 and np.array(held_out["confusion"]).shape == (3, 3)
    assert result["cross_dataset"]["columns"] == ["synthetic held-out", f"fersynth:{toy_dataset}"]
    assert (tmp_path / "confusion_0.png").exists() and "data:image/png;base64" in (tmp_path / "report.html").read_text()


def test_export_onnx_parity_and_triton_config(toy_dataset, trained, tmp_path):
    model_dir, _ = trained
    counts = export(ExportParams(name="fer", max_batch_size=16), model_dir, tmp_path, dataset_dir=toy_dataset)
    assert counts["parity_max_abs_diff"] < 1e-4
    path = tmp_path / "fer" / "1" / "model.onnx"
    proto = onnx.load(str(path))
    meta = {p.key: p.value for p in proto.metadata_props}
    spec = PreprocessSpec.from_json(meta["fersynth.preprocess"])
    assert json.loads(meta["fersynth.labels"]) == CLASSES
    batch_dim = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_dim.dim_param  # dynamic batch
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    faces = [np.full((80, 80, 3), v, np.uint8) for v in (10, 120, 250, 40, 90)]
    for n in (1, 5):
        assert session.run(["logits"], {"input": preprocess(faces[:n], spec)})[0].shape == (n, 3)
    config = (tmp_path / "fer" / "config.pbtxt").read_text()
    assert 'name: "fer"' in config and "max_batch_size: 16" in config and 'platform: "onnxruntime_onnx"' in config
    assert f"dims: [ {spec.channels}, {spec.size}, {spec.size} ]" in config and "dims: [ 3 ]" in config
    assert "dynamic_batching" in config
    assert (tmp_path / "fer" / "labels.txt").read_text().split() == CLASSES


def test_sweep_prints_a_table_over_mixes(toy_dataset, tmp_path, capsys):
    import shutil

    from pipelines.sweep import SweepParams, run as sweep

    real = tmp_path / "real"
    for path in sorted((toy_dataset / "images").glob("*.png"))[:18]:  # 6 'real' identities, folder layout
        seed, order = path.stem.split("_")
        emotion = CLASSES[int(order) % 3]
        (real / emotion).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, real / emotion / f"r{seed}_{order}.png")
    params = SweepParams(ratios=[0.5, 2.0], train=dict(FAST, epochs=1, real=[f"folder:{real}"]))
    result = sweep(params, toy_dataset, tmp_path / "sweep")
    assert list(result["table"]) == ["real + 0.5 x synthetic", "real + 2 x synthetic"]
    assert "training set,synthetic held-out" in capsys.readouterr().out
    assert (tmp_path / "sweep" / "sweep.csv").exists()
    with pytest.raises(ValueError, match="needs real datasets"):
        sweep(SweepParams(ratios=[1.0, 2.0], train=dict(FAST, epochs=1)), toy_dataset, tmp_path / "s2")


def test_resnet18_backbone_weights_from_a_path(tmp_path):
    import torch
    from torchvision.models import resnet18 as tv_resnet18

    from components.common.fer_preprocess import DEFAULT_SPECS
    from models.fer import build_model

    torch.manual_seed(3)
    source = tv_resnet18(weights=None, num_classes=1000)
    torch.save(source.state_dict(), tmp_path / "backbone.pt")
    model = build_model("resnet18", 7, 3, DEFAULT_SPECS["resnet18"].size, weights=str(tmp_path / "backbone.pt"))
    assert torch.equal(model.layer1[0].conv1.weight, source.layer1[0].conv1.weight)
    assert model.fc.out_features == 7  # a new head for our classes
    torch.save({"something": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="no ResNet-18 backbone"):
        build_model("resnet18", 7, 3, DEFAULT_SPECS["resnet18"].size, weights=str(tmp_path / "other.pt"))


def test_identity_batches_keep_identities_whole():
    from components.train.data import IdentityBatches

    groups = [f"seed:{i // 7}" for i in range(70)] + ["seed:10"] * 3  # 11 identities, one with 3 images
    sampler = IdentityBatches(groups, batch_size=21, seed=0)
    epochs = [list(sampler), list(sampler)]
    assert len(epochs[0]) == len(sampler) == 4  # 3 identities per batch
    for batches in epochs:
        assert sorted(i for b in batches for i in b) == list(range(73))
        assert all(len({groups[i] for i in b}) <= 3 for b in batches)
    assert epochs[0] != epochs[1]  # a new order each epoch, the same one for the same seed and epoch
    again = IdentityBatches(groups, batch_size=21, seed=0)
    assert list(again) == epochs[0]


def test_sharpness_jitter_blurs_or_sharpens_each_face_by_its_own_amount():
    import torch
    from torchvision.transforms.v2 import functional as F

    from components.train.data import SharpnessJitter

    faces = torch.randn(6, 1, 64, 64)
    blur = SharpnessJitter(standardise=False, sigma=(1.0, 1.0), amount=(-1.0, -1.0), noise=0.0)
    assert torch.allclose(blur(faces), torch.stack([F.gaussian_blur(f, [5, 5], [1.0]) for f in faces]), atol=1e-5)
    sharpen = SharpnessJitter(standardise=False, sigma=(1.0, 1.0), amount=(1.0, 1.0), noise=0.0)
    edges = lambda x: (x[..., 1:] - x[..., :-1]).abs().mean().item()  # noqa: E731
    assert edges(sharpen(faces)) > edges(faces) > edges(blur(faces))
    torch.manual_seed(0)
    jittered = SharpnessJitter(standardise=True)(faces)
    # Each face keeps zero mean and unit variance, as per-image standardisation gives serving.
    assert torch.allclose(jittered.mean(dim=(2, 3)), torch.zeros(6, 1), atol=1e-4)
    assert torch.allclose(jittered.std(dim=(2, 3)), torch.ones(6, 1), atol=1e-4)
    torch.manual_seed(0)
    assert torch.equal(SharpnessJitter(standardise=True)(faces), jittered)


def test_mixup_blends_images_and_losses_by_one_share_per_batch():
    import torch

    from components.train.run import batch_loss, mixup_pairs

    assert mixup_pairs(8, 0.0, "cpu") == (None, 1.0)  # off: the batch as it is
    torch.manual_seed(0)
    partner, share = mixup_pairs(8, 0.2, "cpu")
    assert sorted(partner.tolist()) == list(range(8)) and 0.0 <= share <= 1.0
    torch.manual_seed(0)
    assert torch.equal(mixup_pairs(8, 0.2, "cpu")[0], partner)  # seeded like the rest of training
    logits = torch.randn(8, len(CLASSES))
    hard = batch_loss(logits, torch.arange(8) % 3, TrainParams(classes=CLASSES))
    assert torch.isclose(hard, torch.nn.functional.cross_entropy(logits, torch.arange(8) % 3))


@pytest.mark.parametrize("task", ["emotion", "au"])
def test_training_with_mixup_and_sharpness_jitter_still_fits(toy_dataset, tmp_path, task):
    counts = train(TrainParams(**dict(FAST, task=task, au_units=[12], mixup=0.4, augment="sharpness")),
                   toy_dataset, tmp_path)
    assert counts["epochs_run"] == FAST["epochs"] and counts.get("learned", True)


def test_fit_check_says_when_nothing_was_learned(trained, caplog):
    import torch

    from components.train.run import fit_check
    from models.fer import CompactCNN

    _, counts = trained
    assert counts["learned"] and counts["train_loss"] < counts["chance_loss"]
    prior = CompactCNN(len(CLASSES))
    torch.nn.init.zeros_(prior.classifier[-1].weight)  # outputs the bias only: a constant guess
    arrays = np.random.RandomState(0).rand(30, 1, 64, 64).astype(np.float32)
    check = fit_check(prior, arrays, np.arange(30) % 3, "cpu", TrainParams(**FAST))
    assert not check["learned"] and check["train_loss"] == pytest.approx(np.log(3), abs=1e-3)
    assert "did not learn its own training data" in caplog.text


def test_alignment_travels_from_the_data_to_the_served_config(tmp_path):
    """adapt's geometry in the manifest -> model.pt -> ONNX metadata and Triton config; ExportParams not needed."""
    from components.common.manifest import read_manifest

    from .toy_fer import write_toy_dataset

    data = write_toy_dataset(tmp_path / "data")
    rows = read_manifest(data)
    write_manifest(data, [{**r, "align_geometry": {"size": 64, "padding": 0.1}} for r in rows])
    train(TrainParams(**dict(FAST, epochs=1)), data, tmp_path / "m")
    export(ExportParams(name="fer"), tmp_path / "m", tmp_path / "e", dataset_dir=data)
    config = (tmp_path / "e" / "fer" / "config.pbtxt").read_text()
    assert '{\\"size\\": 64, \\"padding\\": 0.1}' in config


def test_a_model_without_its_alignment_is_refused_not_guessed(tmp_path):
    """No stage re-types the alignment: a model.pt that lacks it cannot be exported or evaluated."""
    from models.checkpoints import CheckpointError

    from .toy_fer import write_toy_dataset

    data = write_toy_dataset(tmp_path / "data")
    train(TrainParams(**dict(FAST, epochs=1)), data, tmp_path / "m")
    import torch

    state = torch.load(tmp_path / "m" / "model.pt", weights_only=True)
    assert "size" in json.loads(state.pop("alignment"))
    torch.save(state, tmp_path / "m" / "model.pt")
    with pytest.raises(CheckpointError, match="records no face alignment"):
        export(ExportParams(name="fer"), tmp_path / "m", tmp_path / "e", dataset_dir=data)


def test_full_photos_are_aligned_like_the_training_crops(astronaut, tmp_path):
    from components.common.faces import FaceDetector, align_most_confident
    from components.evaluate.run import align_photos
    from components.common.datasets import Sample

    write_image(tmp_path / "astronaut.png", astronaut)
    write_image(tmp_path / "blank.png", np.full((200, 200, 3), 90, np.uint8))
    photos = [Sample("happy", "a", "t", tmp_path / "astronaut.png", aligned=False),
              Sample("neutral", "b", "t", tmp_path / "blank.png", aligned=False)]
    aligned, problems = align_photos(photos, {"size": 72, "padding": 0.05}, "cpu")
    assert len(aligned) == 1 and aligned[0].image().shape == (72, 72, 3) and aligned[0].label == "happy"
    expected, _, _ = align_most_confident(FaceDetector(), astronaut, 72, 0.05)  # what the serving client does
    assert np.array_equal(aligned[0].image(), expected.crop)
    assert len(problems) == 1 and "blank.png: no face found" in problems[0]


def test_models_trained_before_batching_still_load_their_params():
    assert TrainParams.model_validate({"balance": True, "augment": True}).batching == "balanced"
    assert TrainParams.model_validate({"balance": False}).batching == "random"
    assert TrainParams.model_validate({"balance": True, "augment": True}).augment == "full"


def test_a_missing_test_set_is_reported_and_the_others_still_scored(toy_dataset, trained, tmp_path):
    model_dir, _ = trained
    missing = tmp_path / "nowhere"
    evaluate(EvaluateParams(test_sets=[f"emopy:{missing}", f"fersynth:{toy_dataset}"]), toy_dataset, tmp_path / "e",
             model_dir=model_dir)
    result = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert "not EmoPy's examples/image_data" in result["sets"][f"emopy:{missing}"]["error"]
    assert result["sets"][f"fersynth:{toy_dataset}"]["accuracy"] > 0.5
    assert "skipped: " in (tmp_path / "e" / "report.html").read_text()


def test_per_image_standardisation_ignores_exposure_and_travels_with_the_model(astronaut):
    face = astronaut[20:220, 150:350]
    darker = (face.astype(float) * 0.5 + 10).astype(np.uint8)  # half the contrast, another brightness
    fixed = PreprocessSpec(64, True, (0.5,), (0.5,))
    per_image = PreprocessSpec(64, True, (0.5,), (0.5,), standardise=True)
    a, b = preprocess([face, darker], per_image)
    assert abs(float(a.mean())) < 1e-4 and abs(float(a.std()) - 1) < 1e-3
    assert np.abs(a - b).mean() < 0.05  # the same input whatever the exposure
    c, d = preprocess([face, darker], fixed)
    assert np.abs(c - d).mean() > 0.3  # the fixed normalisation passes the exposure on
    assert PreprocessSpec.from_json(per_image.to_json()) == per_image
    old = '{"grey": true, "mean": [0.5], "size": 64, "std": [0.5]}'  # a model written before the option
    assert PreprocessSpec.from_json(old) == fixed


def test_equalised_input_gives_a_soft_face_the_local_contrast_of_a_sharp_one(astronaut):
    import cv2

    face = astronaut[20:220, 150:350]
    # A soft, flat copy: blurred and its local detail halved around a smooth base.
    base = cv2.GaussianBlur(face, (0, 0), 6).astype(float)
    soft = np.clip(base + 0.4 * (cv2.GaussianBlur(face, (0, 0), 1.0) - base), 0, 255).astype(np.uint8)
    per_image = PreprocessSpec(64, True, (0.5,), (0.5,), standardise=True)
    equalised = PreprocessSpec(64, True, (0.5,), (0.5,), standardise=True, equalise=True)

    def detail(x):  # mean absolute difference between neighbouring pixels
        return float(np.abs(np.diff(x, axis=-1)).mean())

    sharp_plain, soft_plain = preprocess([face, soft], per_image)
    sharp_eq, soft_eq = preprocess([face, soft], equalised)
    assert detail(soft_eq) / detail(sharp_eq) > detail(soft_plain) / detail(sharp_plain)
    assert abs(float(soft_eq.mean())) < 1e-4 and abs(float(soft_eq.std()) - 1) < 1e-3
    assert PreprocessSpec.from_json(equalised.to_json()) == equalised
    colour = PreprocessSpec(64, False, (0.5,) * 3, (0.5,) * 3, equalise=True)
    assert preprocess([face, face[..., 0]], colour).shape == (2, 3, 64, 64)  # colour and grey photos alike


def test_the_trained_model_answers_a_face_and_its_mirror_alike_in_torch_and_onnx(toy_dataset, trained, tmp_path):
    # Mirror averaging: the answer is the mean over the face and its mirror image, wherever the model runs.
    from components.common.fer_model import load_trained, predict
    from models.fer import MirrorAveraged

    model_dir, _ = trained
    model, _, spec = load_trained(model_dir)
    rng = np.random.default_rng(0)
    faces = [rng.integers(0, 255, (80, 80, 3), dtype=np.uint8) for _ in range(4)]
    arrays = preprocess(faces, spec)
    mirrored = np.ascontiguousarray(arrays[..., ::-1])
    assert np.allclose(predict(model, arrays, "cpu"), predict(model, mirrored, "cpu"), atol=1e-5)
    assert not np.allclose(predict(model.net, arrays, "cpu"), predict(model.net, mirrored, "cpu"), atol=1e-3)
    export(ExportParams(name="fer"), model_dir, tmp_path, dataset_dir=toy_dataset)
    session = ort.InferenceSession(str(tmp_path / "fer" / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    onnx_logits = session.run(["logits"], {"input": arrays})[0]
    assert np.allclose(onnx_logits, session.run(["logits"], {"input": mirrored})[0], atol=1e-5)
    train(TrainParams(**{**FAST, "mirror_average": False}), toy_dataset, tmp_path / "plain")
    assert not isinstance(load_trained(tmp_path / "plain")[0], MirrorAveraged)  # as trained, when asked


def test_an_ensemble_answers_with_its_members_mean_everywhere_and_resumes_member_by_member(toy_dataset, trained,
                                                                                          tmp_path):
    import torch

    from components.common.fer_model import load_trained, predict
    from models.fer import Ensemble

    single_dir, _ = trained  # FAST, seed 0: what member 0 of the ensemble is
    params = TrainParams(**{**FAST, "ensemble": 2, "mirror_average": False})
    counts = train(params, toy_dataset, tmp_path / "m")
    model, state, spec = load_trained(tmp_path / "m")
    assert isinstance(model, Ensemble) and len(model.nets) == 2 and counts["learned"]
    single = torch.load(single_dir / "model.pt", weights_only=True)["model_state"]
    assert all(torch.equal(single[k], state["member_states"][0][k]) for k in single)  # member 0 = the single run
    assert not torch.equal(*(s["classifier.3.weight"] for s in state["member_states"]))  # another initialisation
    arrays = preprocess([np.full((80, 80, 3), v, np.uint8) for v in (10, 120, 250)], spec)
    mean = (predict(model.nets[0], arrays, "cpu") + predict(model.nets[1], arrays, "cpu")) / 2
    assert np.allclose(predict(model, arrays, "cpu"), mean, atol=1e-5)
    export(ExportParams(name="fer"), tmp_path / "m", tmp_path / "repo", dataset_dir=toy_dataset)
    session = ort.InferenceSession(str(tmp_path / "repo" / "fer" / "1" / "model.onnx"),
                                   providers=["CPUExecutionProvider"])
    assert np.allclose(session.run(["logits"], {"input": arrays})[0], mean, atol=1e-4)
    (tmp_path / "m" / "model.pt").unlink()  # a crash after the members, before the ensemble was written
    again = train(params, toy_dataset, tmp_path / "m")  # nothing to train again: each member resumes finished
    assert again["train_loss"] == counts["train_loss"]
    assert [len((tmp_path / "m" / "members" / k / "history.jsonl").read_text().splitlines()) for k in "01"] == [6, 6]
