"""The train stage: a FER model on the labelled synthetic dataset, mixed with real data.

Splits are identity-disjoint (synthetic: by seed; real: by subject where the dataset has
them): train / validation / test. Each epoch writes `last.pt` (model, optimiser, schedule,
RNG state) so a re-run resumes after a crash; the best validation epoch is `model.pt`;
early stopping ends training after `patience` epochs without improvement. Checkpoints hold
only tensors and plain values (loaded with weights_only). `split.json` records which groups
were held out, for the evaluate stage.
"""
from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader

from components.common import storage
from components.common.fer_model import load_arrays, load_trained, predict, targets_for
from components.common.fer_preprocess import DEFAULT_SPECS, PreprocessSpec
from components.common.imageio import atomic_write_bytes
from components.common.telemetry import progress
from components.common.fer_metrics import roc_auc, summary
from models.checkpoints import CheckpointError, load_torch_weights
from models.fer import build_model, ensemble_of

from .data import FaceDataset, IdentityBatches, balanced_sampler, keep_batch, mix
from components.common.datasets import Sample, dataset_alignment, group_split, load_dataset
from components.common.stage_run import StageRun
from .params import TrainParams

STAGE = "train"
log = logging.getLogger("fersynth.train")


def model_spec(params: TrainParams) -> PreprocessSpec:
    base = DEFAULT_SPECS[params.model]
    return PreprocessSpec(params.image_size or base.size, base.grey, base.mean, base.std,
                          standardise=params.input_norm in ("per_image", "equalised"),
                          equalise=params.input_norm == "equalised")


def training_targets(samples: list[Sample], params: TrainParams) -> np.ndarray:
    return targets_for(samples, params.task, params.classes, params.au_units, params.au_threshold)


def _save(path: Path, payload: dict) -> None:
    import io

    buf = io.BytesIO()
    torch.save(payload, buf)
    atomic_write_bytes(path, buf.getvalue())


def validation_score(logits: np.ndarray, targets: np.ndarray, params: TrainParams) -> dict:
    if params.task == "emotion":
        s = summary(targets, logits.argmax(1), params.classes)
        return {"accuracy": s["accuracy"], "macro_f1": s["macro_f1"], "score": s["macro_f1"]}
    aucs = [roc_auc(targets[:, j], logits[:, j]) for j in range(targets.shape[1])]
    valid = [a for a in aucs if a is not None]
    return {"mean_auc": float(np.mean(valid)) if valid else 0.0, "score": float(np.mean(valid)) if valid else 0.0}


def select_samples(params: TrainParams, in_dir: Path) -> tuple[list[Sample], list[Sample], list[Sample], list[str]]:
    """Train / val / test samples (identity-disjoint) and the problems found while reading."""
    synthetic = load_dataset(f"fersynth:{in_dir}")
    problems = list(synthetic.problems)
    real: list[Sample] = []
    for spec in params.real:
        loaded = load_dataset(spec)
        real += loaded.samples
        problems += loaded.problems
    keep = set(params.classes)
    if params.task == "emotion":
        synthetic_samples = [s for s in synthetic.samples if s.label in keep]
        real = [s for s in real if s.label in keep]
    else:
        synthetic_samples = synthetic.samples
    fractions = (1 - params.val_fraction - params.test_fraction, params.val_fraction, params.test_fraction)
    syn_train, syn_val, syn_test = group_split(synthetic_samples, fractions, params.seed)
    real_train, real_val, real_test = group_split(real, fractions, params.seed) if real else ([], [], [])
    train = mix(real_train, syn_train, params.synthetic_ratio, params.seed)
    return train, syn_val + real_val, syn_test + real_test, problems


def make_loader(arrays: np.ndarray, targets: np.ndarray, groups: list[str], spec: PreprocessSpec,
                params: TrainParams) -> DataLoader:
    dataset = FaceDataset(arrays, targets, spec, params.augment)
    if params.batching == "identity":
        return DataLoader(dataset, batch_sampler=IdentityBatches(groups, params.batch_size, params.seed),
                          collate_fn=keep_batch)
    balanced = params.batching == "balanced" and params.task == "emotion"
    sampler = balanced_sampler(targets, params.seed) if balanced else None
    return DataLoader(dataset, batch_size=params.batch_size, sampler=sampler, shuffle=sampler is None,
                      drop_last=len(arrays) > params.batch_size, collate_fn=keep_batch,
                      generator=torch.Generator().manual_seed(params.seed))


def batch_loss(logits, y, params: TrainParams, pos_weight=None):
    if params.task == "emotion":
        return F.cross_entropy(logits, y, label_smoothing=params.label_smoothing)
    return F.binary_cross_entropy_with_logits(logits, y, pos_weight=pos_weight)


def mixup_pairs(n: int, alpha: float, device) -> tuple[torch.Tensor | None, float]:
    """Mixup (Zhang et al. 2018): each image blended with a random partner from the batch by a share drawn
    from Beta(alpha, alpha), and the loss blended by the same share. (None, 1) when off."""
    if alpha <= 0 or n < 2:
        return None, 1.0
    share = float(torch.distributions.Beta(alpha, alpha).sample())
    return torch.randperm(n).to(device), share


def train_one_epoch(model, loader, optimizer, scheduler, scaler, device, params: TrainParams,
                    pos_weight=None, averaged: AveragedModel | None = None) -> tuple[float, int, float]:
    """One pass over the loader, the schedule (and the weight average) stepped per batch:
    (mean loss, images, seconds)."""
    model.train()
    use_amp = device.type == "cuda"
    t0, total, seen = time.perf_counter(), torch.zeros((), device=device), 0
    for x, y in loader:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        partner, share = mixup_pairs(len(x), params.mixup, device)
        if partner is not None:
            x = share * x + (1 - share) * x[partner]
        with torch.autocast(device.type, enabled=use_amp):
            logits = model(x)
            loss = batch_loss(logits, y, params, pos_weight)
            if partner is not None:
                loss = share * loss + (1 - share) * batch_loss(logits, y[partner], params, pos_weight)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        if averaged is not None:
            averaged.update_parameters(model)
        total += loss.detach() * len(x)  # no .item() per step: it would wait for the device
        seen += len(x)
    return float(total) / max(seen, 1), seen, time.perf_counter() - t0


def fit_check(model, arrays: np.ndarray, targets: np.ndarray, device, params: TrainParams) -> dict:
    """Does the trained model beat the class prior on its own training data? Said in stage.json and the log.

    A network that outputs the prior scores ln(classes) in cross-entropy whatever the images are;
    a training loss near it means nothing was learned (the failure benchmarks/fer_utility.py diagnoses)."""
    if params.task != "emotion" or not len(arrays):
        return {}
    logits = torch.from_numpy(predict(model, arrays, device))
    labels = torch.from_numpy(targets)
    loss = float(F.cross_entropy(logits, labels))
    chance = math.log(len(params.classes))
    learned = loss < 0.9 * chance
    if not learned:
        log.warning("train: the model did not learn its own training data (cross-entropy %.3f, a uniform guess "
                    "scores ln(%d) = %.3f): its predictions carry no expression information", loss,
                    len(params.classes), chance)
    return {"train_loss": round(loss, 4), "chance_loss": round(chance, 4),
            "train_accuracy": round(float((logits.argmax(1) == labels).float().mean()), 4), "learned": learned}


@dataclass
class Training:
    """Everything one training run steps: the model, its optimiser and schedule, the batches, the meta
    data every checkpoint carries, and where the run stands (for resuming)."""
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    loader: DataLoader
    meta: dict
    pos_weight: torch.Tensor | None = None
    averaged: AveragedModel | None = None  # the weights' moving average, when params.ema_decay > 0
    epoch: int = 0
    best: float = -1.0
    stale: int = 0


def load_split(params: TrainParams, in_dir: Path, spec: PreprocessSpec, telemetry) -> tuple:
    """(train, val, test samples, train and val arrays, problems): identity-disjoint, decoded once."""
    train_s, val_s, test_s, problems = select_samples(params, in_dir)
    if not train_s or not val_s:
        raise ValueError(f"{in_dir}: too few identities to split into train and validation "
                         f"({len(train_s)} train, {len(val_s)} val samples)")
    telemetry.seen(len(train_s) + len(val_s))
    with telemetry.timed("load"):
        train_x, kept, bad = load_arrays(train_s, spec)
        train_s = [train_s[i] for i in kept]
        val_x, kept, bad_val = load_arrays(val_s, spec)
        val_s = [val_s[i] for i in kept]
    telemetry.produced(len(train_s) + len(val_s))
    for detail in bad + bad_val:
        telemetry.rejected("unreadable", detail)
    return train_s, val_s, test_s, train_x, val_x, problems + bad + bad_val


def build_training(params: TrainParams, spec: PreprocessSpec, in_dir: Path, out: Path, train_x: np.ndarray,
                   train_y: np.ndarray, groups: list[str], device) -> Training:
    outputs = len(params.classes) if params.task == "emotion" else len(params.au_units)
    weights = storage.fetch_to_local(params.weights, out / ".cache") if params.weights else None
    model = build_model(params.model, outputs, spec.channels, spec.size, weights, params.weights_sha256).to(device)
    loader = make_loader(train_x, train_y, groups, spec, params)
    opt_cls = torch.optim.AdamW if params.optimizer == "adamw" else torch.optim.Adam
    optimizer = opt_cls(model.parameters(), lr=params.lr, weight_decay=params.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=params.lr, pct_start=0.15,
                                                    total_steps=params.epochs * len(loader))
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda")
    meta = {"model": params.model, "task": params.task, "classes": params.classes, "au_units": params.au_units,
            "preprocess": spec.to_json(), "params": json.dumps(params.model_dump()),
            "alignment": json.dumps(dataset_alignment(in_dir)),  # clients align new faces the same way
            "mirror_average": params.mirror_average}
    pos_weight = None
    if params.task != "emotion":  # class re-weighting for rare AUs
        positives = train_y.sum(0)
        pos_weight = torch.as_tensor((len(train_y) - positives) / np.maximum(positives, 1), device=device)
    averaged = None
    if params.ema_decay > 0:  # batch-norm statistics are averaged with the weights they belong to
        averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(params.ema_decay), use_buffers=True)
    return Training(model, optimizer, scheduler, scaler, loader, meta, pos_weight, averaged)


def trained_model(training: Training) -> torch.nn.Module:
    """The network validated, kept and exported: the weights' moving average where there is one."""
    return training.averaged.module if training.averaged is not None else training.model


def save_checkpoint(out: Path, training: Training) -> None:
    """last.pt: everything a crashed run needs to go on exactly where it stopped."""
    _save(out / "last.pt", {"model_state": training.model.state_dict(), "optimizer": training.optimizer.state_dict(),
                            "scheduler": training.scheduler.state_dict(), "rng": torch.get_rng_state(),
                            "epoch": training.epoch, "best": training.best, "stale": training.stale,
                            "params": training.meta["params"],
                            **({"averaged": training.averaged.state_dict()} if training.averaged is not None else {})})


def resume(out: Path, training: Training) -> None:
    """Continue from last.pt when a run with the same parameters stopped early."""
    if (out / "last.pt").exists():
        state = load_torch_weights(out / "last.pt")
        if state.get("params") != training.meta["params"]:
            raise CheckpointError(f"{out / 'last.pt'}: from a run with other parameters; use another output dir")
        training.model.load_state_dict(state["model_state"])
        training.optimizer.load_state_dict(state["optimizer"])
        training.scheduler.load_state_dict(state["scheduler"])
        if training.averaged is not None:
            training.averaged.load_state_dict(state["averaged"])
        torch.set_rng_state(state["rng"])
        training.epoch, training.best, training.stale = int(state["epoch"]), float(state["best"]), int(state["stale"])
        log.info("resuming training after epoch %d (best validation %.4f)", training.epoch, training.best)
    if isinstance(training.loader.batch_sampler, IdentityBatches):
        training.loader.batch_sampler.epoch = training.epoch  # a resumed run draws the batches it would have drawn


def fit(training: Training, params: TrainParams, val_x: np.ndarray, val_y: np.ndarray, device, out: Path,
        telemetry, desc: str = STAGE) -> None:
    """Epochs until `params.epochs` or early stopping; model.pt keeps the best validation score."""
    with open(out / "history.jsonl", "a", encoding="utf-8") as history:
        for epoch in progress(range(training.epoch + 1, params.epochs + 1), desc=desc, unit="epoch"):
            if training.stale >= params.patience:
                log.info("early stop: no validation improvement for %d epochs", training.stale)
                break
            mean_loss, seen, seconds = train_one_epoch(training.model, training.loader, training.optimizer,
                                                       training.scheduler, training.scaler, device, params,
                                                       training.pos_weight, training.averaged)
            telemetry.observe_seconds(seen, seconds / max(seen, 1))
            val = validation_score(predict(trained_model(training), val_x, device), val_y, params)
            improved = val["score"] > training.best
            training.epoch = epoch
            training.best, training.stale = (val["score"], 0) if improved else (training.best, training.stale + 1)
            history.write(json.dumps({"epoch": epoch, "loss": mean_loss, "images_per_s": seen / seconds,
                                      "lr": training.scheduler.get_last_lr()[0],
                                      **{f"val_{k}": v for k, v in val.items()}}) + "\n")
            history.flush()
            if improved:
                _save(out / "model.pt", {"model_state": trained_model(training).state_dict(), **training.meta,
                                         "epoch": epoch, "val": val})
            save_checkpoint(out, training)


def write_split(out: Path, params: TrainParams, train_s: list[Sample], val_s: list[Sample],
                test_s: list[Sample]) -> None:
    """split.json: which identities trained, validated and were held out (evaluate reads the test groups)."""
    split = {"test_groups": sorted({s.group for s in test_s}), "val_groups": sorted({s.group for s in val_s}),
             "train_groups": len({s.group for s in train_s}), "train_samples": len(train_s),
             "val_samples": len(val_s), "test_samples": len(test_s),
             "train_per_class": {c: int(sum(s.label == c for s in train_s)) for c in params.classes}}
    atomic_write_bytes(out / "split.json", json.dumps(split, indent=2).encode())


def member_dir(out: Path, params: TrainParams, k: int) -> Path:
    """Where ensemble member k keeps its checkpoints and history: the stage's own folder for a single network."""
    return out if params.ensemble == 1 else out / "members" / str(k)


def train_member(params: TrainParams, k: int, spec: PreprocessSpec, in_dir: Path, out: Path, data: tuple,
                 device, telemetry) -> Training:
    """Train (or resume) ensemble member k on the shared split: member 0 is the network a single-model run trains,
    member k its own initialisation and batch order (seed + 1000 k)."""
    train_x, train_y, groups, val_x, val_y = data
    member = params if k == 0 else params.model_copy(update={"seed": params.seed + 1000 * k})
    folder = member_dir(out, params, k)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(member.seed)
    training = build_training(member, spec, in_dir, out, train_x, train_y, groups, device)
    resume(folder, training)
    desc = STAGE if params.ensemble == 1 else f"{STAGE} {k + 1}/{params.ensemble}"
    fit(training, member, val_x, val_y, device, folder, telemetry, desc)
    return training


def combine_members(out: Path, params: TrainParams, meta: dict) -> None:
    """model.pt of an ensemble: every member's best weights (member 0's also as `model_state`, so that a reader
    that knows no ensembles still loads a working network). `meta` is member 0's: the run's own parameters."""
    if params.ensemble == 1:
        return
    members = [load_torch_weights(member_dir(out, params, k) / "model.pt") for k in range(params.ensemble)]
    _save(out / "model.pt", {"model_state": members[0]["model_state"], **meta,
                             "member_states": [m["model_state"] for m in members],
                             "epoch": max(m["epoch"] for m in members), "val": [m["val"] for m in members]})


def run(params: TrainParams, in_dir: str | Path, out_dir: str | Path) -> dict:
    in_dir, out = Path(in_dir), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stage = StageRun(STAGE, params, out)
    device = torch.device(params.device)
    spec = model_spec(params)
    train_s, val_s, test_s, train_x, val_x, problems = load_split(params, in_dir, spec, stage.telemetry)
    train_y, val_y = training_targets(train_s, params), training_targets(val_s, params)
    data = (train_x, train_y, [s.group for s in train_s], val_x, val_y)
    members = [train_member(params, k, spec, in_dir, out, data, device, stage.telemetry)
               for k in range(params.ensemble)]
    combine_members(out, params, members[0].meta)
    write_split(out, params, train_s, val_s, test_s)
    kept, _, _ = load_trained(out, params.device)  # the model evaluate and export will read, as they read it
    val = validation_score(predict(kept, val_x, device), val_y, params)
    finals = [trained_model(m) for m in members]  # did training fit its data: the networks as their schedules ended
    fit_summary = fit_check(ensemble_of(finals), train_x, train_y, device, params)
    counts = {"epochs_run": members[0].epoch, "best_val_score": val["score"], "train_samples": len(train_s),
              "val_samples": len(val_s), "test_samples": len(test_s), "problems": len(problems), **fit_summary}
    stage.finish(counts, problems=problems[:1000], preprocess=json.loads(spec.to_json()))
    return counts
