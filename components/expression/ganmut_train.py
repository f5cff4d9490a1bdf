"""Training the `ganmut` editor on a labelled face folder.

    fersynth train-ganmut --in DATA --out CKPT_DIR [--steps 20000 --image-size 128 ...]

DATA is an ImageFolder-style tree (DATA/<emotion>/*.png, emotion names or common
aliases such as 'angry' or 'surprised') or a labelled fersynth dataset (a manifest with
target_emotion). Writes CKPT_DIR/checkpoint.pt (plain tensors, loaded with
weights_only), losses.jsonl, and samples/step_<n>.png grids (rows: inputs, columns:
every emotion at full intensity). Re-running the same command resumes from the checkpoint.
"""
from __future__ import annotations

import json
import logging
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from components.common.imageio import ImageError, atomic_write_bytes, read_image, write_image
from components.common.manifest import MANIFEST_NAME
from components.common.sheets import labelled_grid
from components.common.telemetry import progress
from models.checkpoints import CheckpointError, load_torch_weights
from models.ganmut import GANmutDiscriminator, GANmutGenerator

from .params import GANmutTrainParams
from .targets import EMOTIONS

log = logging.getLogger("fersynth.ganmut")
CHECKPOINT = "checkpoint.pt"


def find_examples(data_dir: Path) -> tuple[list[tuple[Path, str]], list[str]]:
    """(image path, emotion) pairs and the problems found: an ImageFolder tree or a labelled fersynth dataset."""
    from components.common.datasets import read_fersynth, read_folder

    if not data_dir.is_dir():
        raise ValueError(f"{data_dir}: training data directory not found")
    loaded = read_fersynth(data_dir) if (data_dir / MANIFEST_NAME).exists() else read_folder(data_dir)
    return [(s.path, s.label) for s in loaded.samples], loaded.problems


def load_images(examples, size: int) -> tuple[torch.Tensor, list[str], list[str]]:
    """All readable examples as a (N, 3, size, size) tensor in [-1, 1]; unreadable ones are reported."""
    import cv2

    images, labels, problems = [], [], []
    for path, emotion in progress(examples, desc="ganmut data"):
        try:
            rgb = read_image(path)
        except ImageError as exc:
            problems.append(str(exc))
            continue
        images.append(cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA))
        labels.append(emotion)
    if not images:
        raise ValueError("no readable training images")
    tensor = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    return tensor, labels, problems


def source_codes(gen: GANmutGenerator, labels: torch.Tensor, neutral: int | None) -> torch.Tensor:
    """Real images are taken at full intensity of their label; neutral sits at the origin."""
    rho = torch.ones(len(labels), device=labels.device)
    if neutral is not None:
        rho = rho * (labels != neutral)
    return gen.axes.code(labels, rho)


def _sample_grid(gen, inputs: torch.Tensor, emotions: list[str], neutral: int | None) -> np.ndarray:
    with torch.no_grad():
        columns = []
        for k in range(len(emotions)):
            rho = torch.full((len(inputs),), 0.0 if k == neutral else 1.0, device=inputs.device)
            out, _ = gen(inputs, gen.axes.code(torch.full((len(inputs),), k, device=inputs.device), rho))
            columns.append(out)

    def to_img(t):
        return ((t.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()

    cells = [[to_img(inputs[i])] + [to_img(col[i]) for col in columns] for i in range(len(inputs))]
    return labelled_grid(cells, [str(i) for i in range(len(inputs))], ["input"] + emotions)


def _save(out: Path, gen, disc, opt_g, opt_d, step: int, params: GANmutTrainParams, emotions: list[str]) -> None:
    import io

    buf = io.BytesIO()
    torch.save({"generator": gen.state_dict(), "discriminator": disc.state_dict(), "opt_g": opt_g.state_dict(),
                "opt_d": opt_d.state_dict(), "step": step, "emotions": emotions,
                "config": params.model_dump()}, buf)
    atomic_write_bytes(out / CHECKPOINT, buf.getvalue())


def build_networks(config: dict, emotions: list[str]) -> tuple[GANmutGenerator, GANmutDiscriminator]:
    gen = GANmutGenerator(emotions, config["base_channels"], config["res_blocks"])
    depth = min(5, int(np.log2(config["image_size"])) - 2)
    disc = GANmutDiscriminator(len(emotions), config["image_size"], config["base_channels"], depth)
    return gen, disc


def training_data(data_dir: Path, image_size: int) -> tuple[torch.Tensor, torch.Tensor, list[str], list[str]]:
    """(images, label indices, emotions in vocabulary order, problems) of a labelled face folder."""
    examples, problems = find_examples(data_dir)
    images, names, unreadable = load_images(examples, image_size)
    problems += unreadable
    for problem in problems:
        log.warning("ganmut data: skipped %s", problem)
    emotions = sorted(set(names), key=EMOTIONS.index)
    if len([e for e in emotions if e != "neutral"]) < 1 or len(emotions) < 2:
        raise ValueError(f"{data_dir}: need at least two emotions to learn expressions, found {emotions}")
    return images, torch.tensor([emotions.index(n) for n in names]), emotions, problems


def resume(out: Path, params: GANmutTrainParams, emotions: list[str], gen, disc, opt_g, opt_d) -> int:
    """The step a stopped run reached (0 for a new one); refuses a checkpoint of other emotions or sizes."""
    if not (out / CHECKPOINT).exists():
        return 0
    state = load_torch_weights(out / CHECKPOINT)
    if state.get("emotions") != emotions or any(state["config"][k] != getattr(params, k) for k in
                                                 ("image_size", "base_channels", "res_blocks")):
        raise CheckpointError(f"{out / CHECKPOINT}: was trained with other emotions or architecture; "
                              "use another output directory")
    gen.load_state_dict(state["generator"])
    disc.load_state_dict(state["discriminator"])
    opt_g.load_state_dict(state["opt_g"])
    opt_d.load_state_dict(state["opt_d"])
    log.info("resuming ganmut training at step %d", int(state["step"]))
    return int(state["step"])


def train_step(gen, disc, opt_g, opt_d, x, y, target, rho, neutral, params: GANmutTrainParams) -> dict:
    """One discriminator and one generator update; the losses as numbers."""
    # Discriminator: real vs fake, emotion of real faces, code of real faces.
    with torch.no_grad():
        fake, _ = gen(x, gen.axes.code(target, rho))
    rf_real, cls_real, code_real = disc(x)
    rf_fake, _, _ = disc(fake)
    d_adv = F.mse_loss(rf_real, torch.ones_like(rf_real)) + F.mse_loss(rf_fake, torch.zeros_like(rf_fake))
    d_cls = F.cross_entropy(cls_real, y)
    d_code = F.mse_loss(code_real, source_codes(gen, y, neutral).detach())
    d_loss = d_adv + params.lambda_cls * d_cls + params.lambda_code * d_code
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    opt_d.step()

    # Generator: fool D, hit the target emotion and code, come back by the cycle, keep edits local.
    code_t = gen.axes.code(target, rho)
    fake, attention = gen(x, code_t)
    rf, cls_fake, code_fake = disc(fake)
    g_adv = F.mse_loss(rf, torch.ones_like(rf))
    g_cls = F.cross_entropy(cls_fake, target)
    g_code = F.mse_loss(code_fake, code_t)
    rec, _ = gen(fake, source_codes(gen, y, neutral))
    g_cycle = F.l1_loss(rec, x)
    tv = (attention[..., 1:, :] - attention[..., :-1, :]).abs().mean() + \
        (attention[..., 1:] - attention[..., :-1]).abs().mean()
    # GANimation: a mask that saturates at 1 (keep the input everywhere) edits nothing, so its
    # mean is penalised; total variation keeps it smooth.
    g_attention = attention.mean() + tv
    g_loss = (g_adv + params.lambda_cls * g_cls + params.lambda_code * g_code + params.lambda_cycle * g_cycle
              + params.lambda_attention * g_attention)
    opt_g.zero_grad(set_to_none=True)
    g_loss.backward()
    opt_g.step()
    return {"d_adv": d_adv.item(), "d_cls": d_cls.item(), "d_code": d_code.item(), "g_adv": g_adv.item(),
            "g_cls": g_cls.item(), "g_code": g_code.item(), "g_cycle": g_cycle.item(),
            "attention": attention.mean().item()}


def run(params: GANmutTrainParams, data_dir: str | Path, out_dir: str | Path) -> dict:
    if params.image_size % 32:
        raise ValueError(f"image_size {params.image_size} must be a multiple of 32")
    data_dir, out = Path(data_dir), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    images, labels, emotions, problems = training_data(data_dir, params.image_size)
    neutral = emotions.index("neutral") if "neutral" in emotions else None
    device = torch.device(params.device)
    torch.manual_seed(params.seed)
    random.seed(params.seed)
    gen, disc = build_networks(params.model_dump(), emotions)
    gen, disc = gen.to(device), disc.to(device)
    opt_g = torch.optim.Adam(gen.parameters(), lr=params.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=params.lr, betas=(0.5, 0.999))
    step = resume(out, params, emotions, gen, disc, opt_g, opt_d)
    generator = torch.Generator().manual_seed(params.seed + step)
    fixed = images[torch.randperm(len(images), generator=torch.Generator().manual_seed(params.seed))[:6]].to(device)
    started = time.perf_counter()
    bar = progress(None, desc="ganmut train", total=params.steps, unit="step")
    bar.update(step)
    with open(out / "losses.jsonl", "a", encoding="utf-8") as history:
        while step < params.steps:
            idx = torch.randint(len(images), (params.batch_size,), generator=generator)
            x, y = images[idx].to(device), labels[idx].to(device)
            target = torch.randint(len(emotions), (len(idx),), generator=generator).to(device)
            rho = torch.rand(len(idx), generator=generator).to(device) * 0.7 + 0.3
            if neutral is not None:
                rho = rho * (target != neutral)
            losses = train_step(gen, disc, opt_g, opt_d, x, y, target, rho, neutral, params)
            step += 1
            history.write(json.dumps({"step": step, **losses}) + "\n")
            bar.update(1)
            if step % params.save_every == 0 or step == params.steps:
                history.flush()
                _save(out, gen, disc, opt_g, opt_d, step, params, emotions)
                write_image(out / "samples" / f"step_{step:07d}.png", _sample_grid(gen.eval(), fixed, emotions, neutral))
                gen.train()
    bar.close()
    return {"steps": step, "images": len(images), "emotions": emotions, "problems": problems,
            "seconds": round(time.perf_counter() - started, 2)}
