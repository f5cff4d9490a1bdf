"""StyleGAN2 generator (Karras et al. 2020) with the StyleGAN2-ADA parameter layout.

Mapping network (8 equalised-lr FC layers) -> W, broadcast to one w per layer;
synthesis network of blocks at 4, 8, ..., R px, each with an upsampling modulated
conv, a modulated conv, per-pixel noise and a skip toRGB. Parameter and buffer
names follow the official checkpoints (`mapping.fc0.weight`, `synthesis.b8.conv0.affine.bias`,
`synthesis.b4.const`, ...), so their weights load with `load_state_dict`. Only the
paper's 'skip' generator architecture is built. The highest `num_fp16_res` resolutions
run in float16 on CUDA (as StyleGAN2-ADA trains them) and in float32 elsewhere.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .checkpoints import (CheckpointError, PersistentObject, load_stylegan_pickle, load_torch_weights,
                          persistent_state_dict)

LRELU_GAIN = math.sqrt(2.0)


def blur_filter(taps=(1, 3, 3, 1)) -> torch.Tensor:
    f = torch.tensor(taps, dtype=torch.float32)
    f = torch.outer(f, f)
    return f / f.sum()


def upfirdn2d(x: torch.Tensor, f: torch.Tensor, up: int = 1, pad=(0, 0, 0, 0), gain: float = 1.0) -> torch.Tensor:
    """Zero-insertion upsampling, padding (x0, x1, y0, y1; negative crops), then FIR filtering."""
    b, c, h, w = x.shape
    if up > 1:
        x = x.reshape(b, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(b, c, h * up, w * up)
    x0, x1, y0, y1 = pad
    x = F.pad(x, [max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)])
    x = x[:, :, max(-y0, 0): x.shape[2] - max(-y1, 0), max(-x0, 0): x.shape[3] - max(-x1, 0)]
    kernel = (f * gain).flip([0, 1]).to(x.dtype)[None, None].repeat(c, 1, 1, 1)
    return F.conv2d(x, kernel, groups=c)


def upsample2d(x: torch.Tensor, f: torch.Tensor, up: int = 2) -> torch.Tensor:
    fw = f.shape[-1]
    p0, p1 = (fw + up - 1) // 2, (fw - up) // 2
    return upfirdn2d(x, f, up=up, pad=(p0, p1, p0, p1), gain=up * up)


def bias_act(x: torch.Tensor, b: torch.Tensor, lrelu: bool, gain: float, clamp: float | None) -> torch.Tensor:
    x = x + b.reshape(1, -1, *([1] * (x.ndim - 2)))
    if lrelu:
        x = F.leaky_relu(x, 0.2) * gain
    elif gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


class FullyConnectedLayer(nn.Module):
    """Equalised learning rate: weights stored at N(0, 1/lr_mul^2) and scaled at run time."""

    def __init__(self, in_features: int, out_features: int, lrelu: bool = False, lr_multiplier: float = 1.0,
                 bias_init: float = 0.0):
        super().__init__()
        self.lrelu = lrelu
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init)))
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight * self.weight_gain
        b = self.bias * self.bias_gain
        if not self.lrelu:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act(x.matmul(w.t()), b, lrelu=True, gain=LRELU_GAIN, clamp=None)


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


class MappingNetwork(nn.Module):
    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_ws: int, num_layers: int = 8,
                 lr_multiplier: float = 0.01, w_avg_beta: float = 0.995):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws, self.num_layers = z_dim, c_dim, w_dim, num_ws, num_layers
        embed = w_dim if c_dim else 0
        if c_dim:
            self.embed = FullyConnectedLayer(c_dim, embed)
        features = [z_dim + embed] + [w_dim] * num_layers
        for i in range(num_layers):
            setattr(self, f"fc{i}", FullyConnectedLayer(features[i], features[i + 1], lrelu=True,
                                                        lr_multiplier=lr_multiplier))
        self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None) -> torch.Tensor:
        x = normalize_2nd_moment(z) if self.z_dim else None
        if self.c_dim:
            if c is None:
                raise ValueError(f"this generator is conditional: pass a class vector of {self.c_dim}")
            y = normalize_2nd_moment(self.embed(c))
            x = torch.cat([x, y], dim=1) if x is not None else y
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        ws = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        if truncation_psi != 1:
            cutoff = self.num_ws if truncation_cutoff is None else truncation_cutoff
            ws[:, :cutoff] = self.w_avg.lerp(ws[:, :cutoff], truncation_psi)
        return ws


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, up: int = 1,
                     demodulate: bool = True, resample_filter: torch.Tensor | None = None) -> torch.Tensor:
    """Modulated (and demodulated) convolution, in x's dtype.

    Scaling the input channels by the styles and the output channels by the
    demodulation coefficients equals convolving with per-sample modulated weights,
    but lets one shared convolution serve the whole batch (the official non-fused
    form; on a CPU it is several times faster than a grouped conv for batches > 1).
    """
    batch, in_ch = x.shape[:2]
    out_ch, _, kh, kw = weight.shape
    if x.dtype == torch.float16 and demodulate:
        # Demodulation makes the result invariant to these scales; they keep float16 from overflowing.
        weight = weight * (1 / math.sqrt(in_ch * kh * kw) / weight.abs().amax(dim=[1, 2, 3], keepdim=True))
        styles = styles / styles.abs().amax(dim=1, keepdim=True)
    weight, styles = weight.to(x.dtype), styles.to(x.dtype)
    x = x * styles.reshape(batch, in_ch, 1, 1)
    if up == 1:
        x = F.conv2d(x, weight, padding=kh // 2)
    else:
        # Transposed conv at stride 2, then the [1,3,3,1] low-pass filter: same as the official fast path.
        x = F.conv_transpose2d(x, weight.transpose(0, 1), stride=up)
        fw = resample_filter.shape[-1]
        p0 = kh // 2 + (fw + up - 1) // 2 - (kw - 1)
        p1 = kh // 2 + (fw - up) // 2 - (kw - up)
        x = upfirdn2d(x, resample_filter, pad=(p0, p1, p0, p1), gain=up * up)
    if demodulate:
        # 1 / ||w_i * s||: sum over in-channels j and taps k of (w_ijk s_j)^2.
        dcoefs = (styles.square() @ weight.square().sum(dim=[2, 3]).t() + 1e-8).rsqrt()
        x = x * dcoefs.reshape(batch, out_ch, 1, 1)
    return x


class SynthesisLayer(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, up: int = 1,
                 conv_clamp: float | None = None, kernel_size: int = 3):
        super().__init__()
        self.up, self.resolution, self.conv_clamp = up, resolution, conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.register_buffer("resample_filter", blur_filter())
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.register_buffer("noise_const", torch.randn(resolution, resolution))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        styles = self.affine(w)
        x = modulated_conv2d(x, self.weight, styles, up=self.up, resample_filter=self.resample_filter)
        if noise_mode == "const":
            x = x + (self.noise_const * self.noise_strength).to(x.dtype)
        elif noise_mode == "random":
            noise = torch.randn(x.shape[0], 1, self.resolution, self.resolution, device=x.device)
            x = x + (noise * self.noise_strength).to(x.dtype)
        return bias_act(x, self.bias.to(x.dtype), lrelu=True, gain=LRELU_GAIN, clamp=self.conv_clamp)


class ToRGBLayer(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, w_dim: int, conv_clamp: float | None = None):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False)
        return bias_act(x, self.bias.to(x.dtype), lrelu=False, gain=1.0, clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, img_channels: int,
                 conv_clamp: float | None = None, use_fp16: bool = False, is_last: bool = False):
        super().__init__()
        self.in_channels, self.resolution, self.use_fp16, self.is_last = in_channels, resolution, use_fp16, is_last
        self.register_buffer("resample_filter", blur_filter())
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=2, conv_clamp=conv_clamp)
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution, conv_clamp=conv_clamp)
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
        self.num_conv = 1 if in_channels == 0 else 2
        self.num_torgb = 1

    def forward(self, x, img, ws: torch.Tensor, noise_mode: str = "const", fp16: bool | None = None):
        """fp16: run this block in float16 if it is an fp16 block (None: only on CUDA). img stays float32."""
        half = self.use_fp16 and (ws.device.type == "cuda" if fp16 is None else fp16)
        dtype = torch.float16 if half else torch.float32
        w_iter = iter(ws.unbind(dim=1))
        if self.in_channels == 0:
            x = self.const.to(dtype).unsqueeze(0).repeat(ws.shape[0], 1, 1, 1)
            x = self.conv1(x, next(w_iter), noise_mode)
        else:
            x = self.conv0(x.to(dtype), next(w_iter), noise_mode)
            x = self.conv1(x, next(w_iter), noise_mode)
        if img is not None:
            img = upsample2d(img, self.resample_filter)
        y = self.torgb(x, next(w_iter)).float()
        img = y if img is None else img + y
        return x, img


class SynthesisNetwork(nn.Module):
    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, channels: dict[int, int],
                 conv_clamp: float | None = None, num_fp16_res: int = 0):
        super().__init__()
        log2 = int(math.log2(img_resolution))
        if 2 ** log2 != img_resolution or img_resolution < 4:
            raise ValueError(f"img_resolution must be a power of two >= 4, got {img_resolution}")
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.num_fp16_res = num_fp16_res
        self.block_resolutions = [2 ** i for i in range(2, log2 + 1)]
        fp16_resolution = max(2 ** (log2 + 1 - num_fp16_res), 8)  # StyleGAN2-ADA's rule
        self.num_ws = 0
        for res in self.block_resolutions:
            block = SynthesisBlock(channels[res // 2] if res > 4 else 0, channels[res], w_dim, res, img_channels,
                                   conv_clamp=conv_clamp, use_fp16=num_fp16_res > 0 and res >= fp16_resolution,
                                   is_last=res == img_resolution)
            self.num_ws += block.num_conv
            setattr(self, f"b{res}", block)
        self.num_ws += 1  # the last block's toRGB

    def forward(self, ws: torch.Tensor, noise_mode: str = "const", fp16: bool | None = None) -> torch.Tensor:
        x = img = None
        w_idx = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            # A block's toRGB shares its w with the next block's first conv.
            x, img = block(x, img, ws.narrow(1, w_idx, block.num_conv + block.num_torgb), noise_mode, fp16)
            w_idx += block.num_conv
        return img


def default_channels(img_resolution: int, channel_base: int = 32768, channel_max: int = 512) -> dict[int, int]:
    log2 = int(math.log2(img_resolution))
    return {2 ** i: min(channel_base // 2 ** i, channel_max) for i in range(1, log2 + 1)}


class StyleGAN2Generator(nn.Module):
    def __init__(self, z_dim: int = 512, w_dim: int = 512, img_resolution: int = 256, img_channels: int = 3,
                 c_dim: int = 0, channels: dict[int, int] | None = None, mapping_layers: int = 8,
                 conv_clamp: float | None = None, num_fp16_res: int = 0):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.synthesis = SynthesisNetwork(w_dim, img_resolution, img_channels,
                                          channels or default_channels(img_resolution), conv_clamp, num_fp16_res)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim, c_dim, w_dim, self.num_ws, num_layers=mapping_layers)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1.0,
                noise_mode: str = "const", fp16: bool | None = None) -> torch.Tensor:
        """z (B, z_dim), c (B, c_dim) one-hot or None -> images (B, C, R, R), roughly in [-1, 1]."""
        return self.synthesis(self.mapping(z, c, truncation_psi), noise_mode, fp16)

    def class_vector(self, class_index: int | None, batch: int = 1) -> torch.Tensor | None:
        """One-hot c for a conditional generator (None for an unconditional one)."""
        if not self.c_dim:
            if class_index is not None:
                raise ValueError(f"class index {class_index} given, but this generator is unconditional (c_dim=0)")
            return None
        if class_index is None or not 0 <= class_index < self.c_dim:
            raise ValueError(f"this generator is conditional (c_dim={self.c_dim}): "
                             f"choose a class index in 0..{self.c_dim - 1}")
        c = torch.zeros(batch, self.c_dim, device=self.mapping.w_avg.device)
        c[:, class_index] = 1
        return c


# ---- loading -------------------------------------------------------------------------------------

def architecture_from_state_dict(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Infer generator hyper-parameters from tensor shapes (works for pickles and plain state_dicts)."""
    if "synthesis.b4.const" not in state or "mapping.fc0.weight" not in state:
        raise CheckpointError("not a StyleGAN2 generator state_dict (no synthesis.b4.const / mapping.fc0.weight)")
    resolutions = sorted(int(k.split(".")[1][1:]) for k in state if k.endswith(".conv1.weight")
                         and k.startswith("synthesis.b"))
    channels = {res: int(state[f"synthesis.b{res}.conv1.weight"].shape[0]) for res in resolutions}
    channels[2] = channels[4]  # unused by the network, keeps the dict total
    mapping_layers = len([k for k in state if k.startswith("mapping.fc") and k.endswith(".weight")])
    has_embed = "mapping.embed.weight" in state
    w_dim = int(state["mapping.w_avg"].shape[0])
    fc0_in = int(state["mapping.fc0.weight"].shape[1])
    return dict(
        z_dim=fc0_in - (w_dim if has_embed else 0),
        c_dim=int(state["mapping.embed.weight"].shape[1]) if has_embed else 0,
        w_dim=w_dim,
        img_resolution=resolutions[-1],
        img_channels=int(state[f"synthesis.b{resolutions[-1]}.torgb.weight"].shape[0]),
        channels=channels,
        mapping_layers=mapping_layers,
    )


def _children(record: PersistentObject | None) -> dict:
    return (record.state.get("_modules") or {}) if isinstance(record, PersistentObject) else {}


def _pickle_generator_options(path: Path, g: PersistentObject) -> dict[str, Any]:
    """conv_clamp and num_fp16_res of a pickled generator; clear errors for layouts we do not build."""
    synthesis = _children(g).get("synthesis")
    blocks = {name: block for name, block in _children(synthesis).items() if name[:1] == "b" and name[1:].isdigit()}
    if "b4" not in blocks:
        layers = ", ".join(list(_children(synthesis))[:3])
        family = "StyleGAN3 (alias-free)" if "input" in _children(synthesis) else "an unknown"
        raise CheckpointError(f"{path}: {family} generator (synthesis layers {layers}, ...) is not supported: "
                              "fersynth loads StyleGAN2 / StyleGAN2-ADA generators")
    architecture = blocks["b4"].state.get("architecture")
    if architecture not in (None, "skip"):
        raise CheckpointError(f"{path}: generator architecture {architecture!r} is not supported (only 'skip')")
    conv1 = _children(blocks["b4"]).get("conv1")
    return dict(conv_clamp=conv1.state.get("conv_clamp") if conv1 else None,
                num_fp16_res=sum(bool(block.state.get("use_fp16")) for block in blocks.values()))


def _is_rosinality(state: Any) -> bool:
    keys = set(state) if isinstance(state, dict) else set()
    return bool({"g_ema", "g"} & keys) or any(k.startswith(("style.", "convs.", "to_rgbs.")) for k in keys)


def _rosinality_error(path: Path) -> CheckpointError:
    return CheckpointError(f"{path}: a rosinality stylegan2-pytorch checkpoint is not supported: fersynth loads "
                           "the StyleGAN2-ADA layout (an official .pkl, or a state_dict with mapping.* and "
                           "synthesis.b4.* keys)")


def load_stylegan2(path: str | Path, expected_sha256: str | None = None, network: str = "G_ema",
                   conv_clamp: float | None = None) -> StyleGAN2Generator:
    """Load an official `.pkl` (read without executing its embedded code) or a plain state_dict file.

    network: which generator of a training snapshot ('G_ema', the averaged one users want, or 'G').
    """
    path = Path(path)
    options: dict[str, Any] = dict(conv_clamp=conv_clamp)
    if path.suffix == ".pkl":
        data = load_stylegan_pickle(path, expected_sha256)
        record = data.get(network)
        if not isinstance(record, PersistentObject):
            raise CheckpointError(f"{path}: no network {network!r} in the pickle (has {sorted(data)})")
        options = _pickle_generator_options(path, record)
        state = persistent_state_dict(record)
    else:
        try:
            state = load_torch_weights(path, expected_sha256)
        except CheckpointError as exc:
            if "argparse" in str(exc):  # rosinality's checkpoints carry their argparse.Namespace
                raise _rosinality_error(path) from None
            raise
        if _is_rosinality(state):
            raise _rosinality_error(path)
        if isinstance(state, dict) and isinstance(state.get(network), dict):
            state = state[network]
    try:
        arch = architecture_from_state_dict(state)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    net = StyleGAN2Generator(**arch, **options)
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit the StyleGAN2 layout ({str(exc).splitlines()[0]})") \
            from None
    return net.eval()


def z_from_seed(seed: int, z_dim: int) -> np.ndarray:
    """The latent for a seed, exactly as the official generate.py draws it."""
    return np.random.RandomState(seed).randn(1, z_dim)
