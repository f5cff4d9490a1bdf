"""StyleGAN2-ADA training snapshots in their genuine pickle format (see stylegan_fixtures)."""
import argparse
import io
import pickle
import pickletools
import sys

import numpy as np
import pytest
import torch

from models.checkpoints import CheckpointError, PersistentObject, load_stylegan_pickle
from models.stylegan2 import StyleGAN2Generator, load_stylegan2, z_from_seed

from .stylegan_fixtures import NUMPY2, NumpyFloat64, Record, SnapshotPickler, write_snapshot

CHANNELS = {2: 32, 4: 32, 8: 16, 16: 16, 32: 8}


def generator(seed: int, **kwargs) -> StyleGAN2Generator:
    torch.manual_seed(seed)
    g = StyleGAN2Generator(z_dim=32, w_dim=32, img_resolution=32, channels=CHANNELS, conv_clamp=256, **kwargs).eval()
    with torch.no_grad():  # non-trivial noise strengths and w_avg so that both matter
        for name, p in g.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.1)
        g.mapping.w_avg.normal_()
    return g


def z(seed: int = 3) -> torch.Tensor:
    return torch.from_numpy(z_from_seed(seed, 32)).float()


def globals_named(path) -> set[str]:
    """module.name of every STACK_GLOBAL in a pickle (its two strings are pushed, or fetched, just before it)."""
    found, pushed, memo = set(), [], []
    for op, arg, _ in pickletools.genops(path.read_bytes()):
        if op.name in ("SHORT_BINUNICODE", "BINUNICODE"):
            pushed.append(arg)
        elif op.name == "MEMOIZE":
            memo.append(pushed[-1] if pushed else None)
        elif op.name in ("BINGET", "LONG_BINGET"):
            pushed.append(memo[arg])
        elif op.name == "STACK_GLOBAL":
            found.add(".".join(pushed[-2:]))
            pushed.append(None)
        elif op.name != "FRAME":
            pushed.append(None)
    return found


def opcodes(data: bytes) -> list:
    """The opcodes that build objects (framing and unused memo entries dropped)."""
    return [(op.name, arg) for op, arg, _ in pickletools.genops(pickletools.optimize(data)) if op.name != "FRAME"]


def test_numpy_scalars_are_written_as_numpy_writes_them():
    ours = io.BytesIO()
    SnapshotPickler(ours).dump([NumpyFloat64(2 ** -0.5), NumpyFloat64(np.sqrt(2))])
    theirs = pickle.dumps([np.float64(2 ** -0.5), np.sqrt(2)], protocol=4)
    if np.__version__.startswith("1."):
        assert opcodes(ours.getvalue()) == opcodes(theirs)
    assert pickle.loads(ours.getvalue()) == [2 ** -0.5, np.sqrt(2)]


@pytest.fixture
def snapshot(tmp_path):
    g_ema, g = generator(0), generator(1)
    marker = tmp_path / "EXECUTED"
    path = tmp_path / "network-snapshot-000400.pkl"
    write_snapshot(path, g_ema, marker, g=g)
    return dict(path=path, g_ema=g_ema, g=g, marker=marker)


def test_snapshot_holds_the_globals_of_a_genuine_one(snapshot):
    assert globals_named(snapshot["path"]) == {
        "torch_utils.persistence._reconstruct_persistent_obj", "dnnlib.util.EasyDict", "collections.OrderedDict",
        "torch._utils._rebuild_parameter", "torch._utils._rebuild_tensor_v2", "torch.storage._load_from_bytes",
        "numpy.core.multiarray.scalar", "numpy.dtype"}


def test_genuine_snapshot_loads_without_running_its_code(snapshot):
    before = set(sys.modules)
    loaded = load_stylegan2(snapshot["path"])
    assert not snapshot["marker"].exists()
    assert not {m for m in set(sys.modules) - before if m.startswith(("torch_utils", "dnnlib", "training"))}
    with torch.no_grad():
        for psi in (1.0, 0.7):  # truncation towards the checkpoint's w_avg
            assert torch.equal(loaded(z(), truncation_psi=psi), snapshot["g_ema"](z(), truncation_psi=psi))
    assert loaded.synthesis.b4.conv1.conv_clamp == 256


def test_g_is_selectable(snapshot):
    loaded = load_stylegan2(snapshot["path"], network="G")
    with torch.no_grad():
        assert torch.equal(loaded(z()), snapshot["g"](z()))
        assert not torch.equal(loaded(z()), snapshot["g_ema"](z()))
    with pytest.raises(CheckpointError, match=r"no network 'G_avg'.*G_ema"):
        load_stylegan2(snapshot["path"], network="G_avg")


def test_snapshot_contents_come_back_as_plain_values(snapshot):
    data = load_stylegan_pickle(snapshot["path"])
    assert sorted(data) == ["D", "G", "G_ema", "augment_pipe", "training_set_kwargs"]
    assert data["training_set_kwargs"]["resolution"] == 32
    fc = data["G_ema"].state["_modules"]["mapping"].state["_modules"]["fc0"]
    assert type(fc.state["weight_gain"]) is float and fc.state["weight_gain"] == pytest.approx(0.01 / np.sqrt(32))
    assert isinstance(data["D"], PersistentObject) and data["D"].class_name == "Discriminator"
    assert type(data["augment_pipe"].state["scale_std"]) is float


def test_numpy2_spelling_loads(tmp_path):
    g = generator(2)
    write_snapshot(tmp_path / "np2.pkl", g, tmp_path / "EXECUTED", numpy_module=NUMPY2)
    assert "numpy._core.multiarray.scalar" in globals_named(tmp_path / "np2.pkl")
    with torch.no_grad():
        assert torch.equal(load_stylegan2(tmp_path / "np2.pkl")(z()), g(z()))


@pytest.mark.parametrize("genuine, hostile", [
    (("numpy", "dtype"), ("os", "system")),
    (("numpy.core.multiarray", "scalar"), ("builtins", "eval")),
    (("torch_utils.persistence", "_reconstruct_persistent_obj"), ("os", "system")),
    (("dnnlib.util", "EasyDict"), ("builtins", "eval")),
])
def test_one_swapped_global_is_refused(tmp_path, genuine, hostile):
    path = tmp_path / "tampered.pkl"
    write_snapshot(path, generator(0), tmp_path / "EXECUTED", swap={genuine: hostile})
    with pytest.raises(CheckpointError) as err:
        load_stylegan2(path)
    assert str(path) in str(err.value) and f"refused to load global {'.'.join(hostile)}" in str(err.value)
    assert not (tmp_path / "EXECUTED").exists()


@pytest.mark.parametrize("payload, reason", [
    (b"cnumpy\ndtype\n(VO8\nI00\nI01\ntR.", "only numeric"),  # object dtype: scalar would return any object
    (b"cnumpy.core.multiarray\nscalar\n(cnumpy\ndtype\n(Vf8\nI00\nI01\ntRVabc\ntR.", "not 8 bytes"),
])
def test_numpy_reconstructors_take_numbers_only(tmp_path, payload, reason):
    path = tmp_path / "odd.pkl"
    path.write_bytes(payload)
    with pytest.raises(CheckpointError, match=reason):
        load_stylegan_pickle(path)


def test_conditional_generator_with_a_class(tmp_path):
    g = generator(4, c_dim=5)
    write_snapshot(tmp_path / "cond.pkl", g, tmp_path / "EXECUTED")
    loaded = load_stylegan2(tmp_path / "cond.pkl")
    assert loaded.c_dim == 5
    c = loaded.class_vector(2)
    assert c.tolist() == [[0, 0, 1, 0, 0]]
    with torch.no_grad():
        assert torch.equal(loaded(z(), c), g(z(), c))
        assert not torch.equal(loaded(z(), c), loaded(z(), loaded.class_vector(3)))
    with pytest.raises(ValueError, match=r"conditional \(c_dim=5\).*0\.\.4"):
        loaded.class_vector(None)
    with pytest.raises(ValueError, match="unconditional"):
        generator(0).class_vector(1)


def test_fp16_layers(tmp_path):
    g = generator(5, num_fp16_res=2)
    assert [getattr(g.synthesis, f"b{r}").use_fp16 for r in (4, 8, 16, 32)] == [False, False, True, True]
    write_snapshot(tmp_path / "fp16.pkl", g, tmp_path / "EXECUTED")
    loaded = load_stylegan2(tmp_path / "fp16.pkl")
    assert loaded.synthesis.num_fp16_res == 2 and loaded.synthesis.b16.use_fp16
    with torch.no_grad():
        fp32 = loaded(z())  # on a CPU the fp16 blocks run in float32
        assert fp32.dtype == torch.float32 and torch.equal(fp32, g(z()))
        half = loaded(z(), fp16=True)  # what CUDA runs: same image to float16 precision
    assert half.dtype == torch.float32
    assert (half - fp32).abs().max() < 2e-2 * fp32.abs().max()


def test_stylegan3_pickle_gets_a_clear_error(tmp_path):
    def layer(name):
        return Record(name, {"_parameters": {}, "_buffers": {}, "_modules": {}}, module_src="raise SystemExit\n")
    synthesis = Record("SynthesisNetwork", {"_parameters": {}, "_buffers": {},
                                            "_modules": {"input": layer("SynthesisInput"),
                                                         "L0_36_512": layer("SynthesisLayer")}}, "raise SystemExit\n")
    g = Record("Generator", {"_parameters": {}, "_buffers": {}, "_modules": {"synthesis": synthesis}}, "raise SystemExit\n")
    path = tmp_path / "stylegan3-t.pkl"
    with open(path, "wb") as fh:
        SnapshotPickler(fh).dump({"G_ema": g})
    with pytest.raises(CheckpointError, match=r"stylegan3-t.pkl: StyleGAN3 .* not supported"):
        load_stylegan2(path)


@pytest.mark.parametrize("with_args", [True, False])
def test_rosinality_checkpoint_gets_a_clear_error(tmp_path, with_args):
    g_ema = {"style.1.weight": torch.zeros(4, 4), "input.input": torch.zeros(1, 4, 4, 4),
             "convs.0.conv.weight": torch.zeros(1, 4, 4, 3, 3)}
    ckpt = {"g": g_ema, "d": {}, "g_ema": g_ema}
    if with_args:
        ckpt["args"] = argparse.Namespace(size=16)
    torch.save(ckpt, tmp_path / "550000.pt")
    with pytest.raises(CheckpointError, match=r"550000.pt: a rosinality stylegan2-pytorch checkpoint"):
        load_stylegan2(tmp_path / "550000.pt")
