import os
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from models.checkpoints import CheckpointError, load_stylegan_pickle, load_torch_weights
from models.stylegan2 import (StyleGAN2Generator, architecture_from_state_dict, blur_filter, load_stylegan2,
                              modulated_conv2d, upfirdn2d, z_from_seed)

from .stylegan_fixtures import write_snapshot

TINY = dict(z_dim=32, w_dim=32, img_resolution=16, channels={2: 32, 4: 32, 8: 16, 16: 8}, conv_clamp=256)


def tiny_generator(seed=0) -> StyleGAN2Generator:
    torch.manual_seed(seed)
    g = StyleGAN2Generator(**TINY).eval()
    with torch.no_grad():  # non-trivial noise strengths and w_avg so they matter in the comparison
        for name, p in g.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.1)
        g.mapping.w_avg.normal_()
    return g


def test_layout_matches_official_names():
    g = StyleGAN2Generator(img_resolution=256)
    names = set(g.state_dict())
    for expected in ("mapping.fc0.weight", "mapping.fc7.bias", "mapping.w_avg", "synthesis.b4.const",
                     "synthesis.b4.conv1.affine.weight", "synthesis.b4.conv1.noise_const",
                     "synthesis.b4.conv1.noise_strength", "synthesis.b8.conv0.weight",
                     "synthesis.b8.resample_filter", "synthesis.b256.torgb.affine.bias",
                     "synthesis.b256.torgb.weight"):
        assert expected in names
    assert g.num_ws == 14  # as in the official 256 px generator
    assert g(torch.randn(2, 512)).shape == (2, 3, 256, 256)


def test_upsampling_conv_equals_the_slow_reference():
    """Transposed conv + blur must equal: zero-insert upsample with the FIR filter, then a 3x3 conv."""
    torch.manual_seed(1)
    x, weight, styles = torch.randn(2, 4, 8, 8), torch.randn(5, 4, 3, 3), torch.randn(2, 4)
    f = blur_filter()
    fast = modulated_conv2d(x, weight, styles, up=2, demodulate=False, resample_filter=f)
    slow = torch.cat([
        F.conv2d(upfirdn2d(x[i:i + 1], f, up=2, pad=(3, 2, 3, 2), gain=4),
                 (weight * styles[i].reshape(1, -1, 1, 1)).flip([2, 3]))
        for i in range(2)])
    assert fast.shape == (2, 5, 16, 16)
    assert torch.allclose(fast, slow, atol=1e-5)


def test_demodulation_normalises_output_scale():
    torch.manual_seed(2)
    x = torch.randn(1, 64, 16, 16)
    out = modulated_conv2d(x, torch.randn(64, 64, 3, 3), torch.rand(1, 64) * 10 + 0.1)
    assert 0.5 < out.std().item() < 2.0  # unit-variance in, unit-variance out


def test_official_pickle_round_trip_without_running_its_code(tmp_path):
    g = tiny_generator()
    marker = tmp_path / "EXECUTED"
    write_snapshot(tmp_path / "network.pkl", g, marker)
    loaded = load_stylegan2(tmp_path / "network.pkl")
    assert not marker.exists()
    z = torch.from_numpy(z_from_seed(3, 32)).float()
    with torch.no_grad():
        for psi in (1.0, 0.7):
            assert torch.equal(loaded(z, truncation_psi=psi), g(z, truncation_psi=psi))
    assert loaded.synthesis.b4.conv1.conv_clamp == 256
    data = load_stylegan_pickle(tmp_path / "network.pkl")
    assert data["training_set_kwargs"]["resolution"] == 16


def test_plain_state_dict_file(tmp_path):
    g = tiny_generator(5)
    torch.save(g.state_dict(), tmp_path / "g.pt")
    arch = architecture_from_state_dict(g.state_dict())
    assert arch["channels"][8] == 16 and arch["img_resolution"] == 16 and arch["z_dim"] == 32
    loaded = load_stylegan2(tmp_path / "g.pt", conv_clamp=256)
    z = torch.randn(2, 32)
    with torch.no_grad():
        assert torch.equal(loaded(z), g(z))


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused(tmp_path):
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"G_ema": _RunsCode(marker)}))
    with pytest.raises(CheckpointError, match=r"refused to load global (posix|os)\.system"):
        load_stylegan2(path)
    assert not marker.exists()
    evil_eval = b"cbuiltins\neval\n(V__import__('os').system('touch " + str(marker).encode() + b"')\ntR."
    path.write_bytes(evil_eval)
    with pytest.raises(CheckpointError, match="builtins.eval"):
        load_stylegan_pickle(path)
    assert not marker.exists()


def test_torch_file_with_code_is_refused(tmp_path):
    marker = tmp_path / "PWNED"
    torch.save({"G_ema": _RunsCode(marker)}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="refused"):
        load_torch_weights(tmp_path / "evil.pt")
    assert not marker.exists()


def test_checksum_is_checked(tmp_path):
    torch.save(tiny_generator().state_dict(), tmp_path / "g.pt")
    with pytest.raises(CheckpointError, match="does not match"):
        load_stylegan2(tmp_path / "g.pt", expected_sha256="0" * 64)


def test_seed_to_z_matches_generate_py():
    assert np.array_equal(z_from_seed(42, 512), np.random.RandomState(42).randn(1, 512))


def test_batched_modulation_equals_per_sample_weights():
    """Input/output scaling must equal convolving each sample with its own demodulated weights."""
    torch.manual_seed(3)
    x, weight, styles = torch.randn(3, 6, 8, 8), torch.randn(4, 6, 3, 3), torch.randn(3, 6)
    f = blur_filter()
    for up in (1, 2):
        got = modulated_conv2d(x, weight, styles, up=up, resample_filter=f)
        for i in range(3):
            w = weight * styles[i].reshape(1, -1, 1, 1)
            w = w / (w.square().sum(dim=[1, 2, 3], keepdim=True) + 1e-8).sqrt()
            if up == 1:
                ref = F.conv2d(x[i:i + 1], w, padding=1)
            else:
                ref = F.conv2d(upfirdn2d(x[i:i + 1], f, up=2, pad=(3, 2, 3, 2), gain=4), w.flip([2, 3]))
            assert torch.allclose(got[i:i + 1], ref, atol=1e-4)
