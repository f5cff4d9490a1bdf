"""Typed KFP parameters: every stage field is its own pipeline and component input, `<stage>_<field>`,
typed, with its default and description; the components rebuild the same pydantic model from them."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from google.protobuf import json_format, struct_pb2

from components.common.config import ConfigError
from components.common.kfp_inputs import from_inputs, stage_inputs
from components.stages import PIPELINE_STAGES
from pipelines import cluster_cli
from pipelines.pipeline_inputs import pipeline_arguments

KFP_TYPES = {int: "NUMBER_INTEGER", float: "NUMBER_DOUBLE", bool: "BOOLEAN", str: "STRING", list: "LIST",
             dict: "STRUCT"}

# Parameters away from the defaults: None fields set, others set to None, lists, dicts, text.
VARIANTS = {
    "identity": {"backend": "stylegan2", "weights": "s3://bucket/ffhq.pkl", "class_index": 3, "seeds": [7, 2**32 - 1],
                 "latent_index": 2, "latent_degrees": [-1.5, 0.0, 2.0], "count": 5, "truncation_psi": 0.7,
                 "network": "G"},
    "expression": {"editor": "ganmut", "checkpoint": "ckpt.pt", "max_identities": 4, "au_targets": [{"AU12": 1.0}],
                   "polar_thetas": [30.0, 210.5], "emotions": ["happy"], "appearance": False},
    "adapt": {"grey": True, "output_size": 48, "border": 0.1, "blend": "poisson"},
    "select": {"top_k": None, "weights": {"brisque": -1.0, "ssim": 0.5}, "max_niqe": 7.5, "reference": "s3://b/ref",
               "fid": False},
    "annotate": {"seed_list": "seeds.yaml", "au_units": [1, 12], "prefer": "seed_list"},
    "privacy": {"drop": True, "reference": ["samples", "rafdb:/data/raf"], "threshold": 0.45},
    "train": {"image_size": 96, "weights": "w.pt", "real": ["rafdb:/data/raf"], "lr": 0.01, "classes": ["happy", "sad"],
              "au_units": [4, 12]},
    "evaluate": {"model_dir": "model", "test_sets": ["fer2013:/data/fer"], "batch_size": 8},
    "bias": {"attributes": "groups.csv", "model_dir": "model", "aligned": "yes"},
    "export": {"repository": "s3://models/fer", "version": 3, "parity_tolerance": 1e-3},
}


@pytest.fixture(scope="module")
def root_inputs():
    spec = next(yaml.safe_load_all(cluster_cli.COMPILED.read_text()))
    return spec, spec["root"]["inputDefinitions"]["parameters"]


def test_every_stage_field_is_a_typed_pipeline_input_with_its_help(root_inputs):
    _, inputs = root_inputs
    expected = {spec.name for stage in PIPELINE_STAGES.values() for spec in stage_inputs(stage.params, stage.name)}
    assert set(inputs) == expected | {"shards"}
    count = inputs["identity_count"]
    assert count["parameterType"] == "NUMBER_INTEGER" and count["defaultValue"] == 256
    assert type(count["defaultValue"]) is int, "integers compile as integers"
    assert count["description"] == PIPELINE_STAGES["identity"].params.model_fields["count"].description
    assert inputs["train_lr"]["parameterType"] == "NUMBER_DOUBLE" and inputs["train_lr"]["defaultValue"] == 2e-3
    assert inputs["adapt_grey"] == {"parameterType": "BOOLEAN", "defaultValue": False, "isOptional": True,
                                    "description": "write greyscale images (e.g. 64x64 grey for the simple CNN)"}
    assert inputs["train_classes"]["parameterType"] == "LIST" and "neutral" in inputs["train_classes"]["defaultValue"]
    assert inputs["select_weights"]["parameterType"] == "STRUCT"
    assert inputs["select_weights"]["defaultValue"] == {"brisque": -1.0, "niqe": -1.0}
    assert inputs["identity_backend"]["parameterType"] == "STRING"
    assert inputs["identity_backend"]["description"].endswith("(one of: dcgan64, stylegan2, folder)")
    # None by default: text, empty means not set
    assert inputs["identity_weights"]["parameterType"] == "STRING" and inputs["identity_weights"]["defaultValue"] == ""
    assert inputs["identity_seeds"]["description"].endswith("(empty: not set; otherwise JSON)")
    assert inputs["select_top_k"] == {**inputs["select_top_k"], "parameterType": "STRING", "defaultValue": "180"}
    assert inputs["shards"]["defaultValue"] == 1 and inputs["shards"]["description"]
    for name, spec in inputs.items():
        assert spec.get("description"), f"{name} has no description"
    for stage in PIPELINE_STAGES.values():
        for spec in stage_inputs(stage.params, stage.name):
            assert inputs[spec.name]["parameterType"] == KFP_TYPES[spec.type], spec.name
            assert inputs[spec.name]["defaultValue"] == spec.default, spec.name


def test_components_take_their_stage_inputs_not_a_dict(root_inputs):
    spec, _ = root_inputs
    identity = spec["components"]["comp-identity-part-op"]["inputDefinitions"]["parameters"]
    assert "params" not in identity and set(identity) == {s.name for s in stage_inputs(
        PIPELINE_STAGES["identity"].params, "identity")} | {"shard", "shards"}
    assert identity["identity_count"]["parameterType"] == "NUMBER_INTEGER"
    train = spec["components"]["comp-train-op"]  # the field `model` and the output artifact `model` apart
    assert train["inputDefinitions"]["parameters"]["train_model"]["parameterType"] == "STRING"
    assert "model" in train["outputDefinitions"]["artifacts"]
    for name, component in spec["components"].items():
        assert "params" not in component.get("inputDefinitions", {}).get("parameters", {}), name


def _through_kfp(value):
    """What a value looks like after KFP: LIST and STRUCT values are protobuf values (numbers are doubles)."""
    if isinstance(value, (list, dict)):
        return json_format.MessageToDict(json_format.ParseDict(value, struct_pb2.Value()))
    return value


@pytest.mark.parametrize("stage", list(PIPELINE_STAGES))
def test_params_round_trip_through_the_pipeline_inputs(stage):
    model = PIPELINE_STAGES[stage].params
    for params in (model(), model.model_validate(VARIANTS[stage])):
        arguments = pipeline_arguments({stage: params})
        for spec in stage_inputs(model, stage):
            assert isinstance(arguments[spec.name], spec.type), spec.name
        rebuilt = from_inputs(model, stage, {k: _through_kfp(v) for k, v in arguments.items()})
        assert rebuilt == params and rebuilt.model_dump() == params.model_dump()
    assert pipeline_arguments({stage: VARIANTS[stage]}) == pipeline_arguments({stage: model.model_validate(VARIANTS[stage])})


def _shipped(op):
    """The op's function from the source text KFP ships to the container (its ephemeral module)."""
    namespace: dict = {}
    source = op.component_spec.implementation.container.command[-1]
    exec(compile(source, "ephemeral_component.py", "exec", dont_inherit=True), namespace)
    return namespace[op.python_func.__name__]


class _Artifact:
    def __init__(self, path="/nowhere"):
        self.path, self.metadata = path, {}


@pytest.mark.parametrize("op_path", ["identity.component:identity_part_op", "expression.component:expression_part_op",
                                     "adapt.component:adapt_part_op", "select.component:select_part_op",
                                     "privacy.component:privacy_part_op", "annotate.component:annotate_op",
                                     "bias.component:bias_op", "export.component:export_op",
                                     "train.component:train_op", "identity.component:identity_merge_op"])
def test_the_shipped_component_source_rebuilds_the_params(op_path, monkeypatch):
    """Run each component's source text as KFP ships it to the container, with the stage itself stubbed:
    the stage gets the very parameters the pipeline was given."""
    import collections
    import importlib
    import inspect

    from components.common import stage_cache

    module, name = op_path.split(":")
    op = getattr(importlib.import_module(f"components.{module}"), name)
    stage = module.split(".")[0]
    seen = []
    monkeypatch.setattr(stage_cache, "run_cached",
                        lambda stage_name, params, *a, **k: seen.append(params) or collections.defaultdict(int))
    func = _shipped(op)
    params = PIPELINE_STAGES[stage].params.model_validate(VARIANTS[stage])
    arguments = {k: _through_kfp(v) for k, v in pipeline_arguments({stage: params}).items()}
    for arg, parameter in inspect.signature(func).parameters.items():
        if arg not in arguments:
            arguments[arg] = {"shard": 0, "shards": 1}.get(arg) if parameter.annotation is int else (
                [_Artifact()] if arg == "parts" else _Artifact())
    func(**arguments)
    assert seen == [params]


def test_train_mix_overrides_the_ratio(monkeypatch):
    import collections

    from components.common import stage_cache
    from components.train.component import train_mix_op

    seen = []
    monkeypatch.setattr(stage_cache, "run_cached", lambda _, params, *a, **k: seen.append(params) or collections.Counter())
    params = PIPELINE_STAGES["train"].params.model_validate(VARIANTS["train"])
    _shipped(train_mix_op)(**pipeline_arguments({"train": params}), ratio=2.5, labelled=_Artifact(),
                              model=_Artifact())
    assert seen == [params.model_copy(update={"synthetic_ratio": 2.5})]


def test_unknown_or_mistyped_arguments_are_named():
    from pipelines.fer_pipeline import fer_pipeline

    with pytest.raises(ConfigError, match=r"identity_cout: Extra inputs are not permitted"):
        pipeline_arguments({"identity": {"cout": 3}})
    with pytest.raises(ConfigError, match=r"identity_count: Input should be a valid integer"):
        pipeline_arguments({"identity": {"count": "many"}})
    with pytest.raises(ConfigError, match=r"unknown stage 'identiy'"):
        pipeline_arguments({"identiy": {}})
    with pytest.raises(ConfigError, match=r"expected IdentityParams, got TrainParams"):
        pipeline_arguments({"identity": PIPELINE_STAGES["train"].params()})
    arguments = pipeline_arguments({"identity": {}})
    with pytest.raises(ConfigError, match=r"identity_count: Input should be greater than or equal to 1"):
        from_inputs(PIPELINE_STAGES["identity"].params, "identity", {**arguments, "identity_count": 0})
    with pytest.raises(ConfigError, match=r"identity_seeds: not JSON"):
        from_inputs(PIPELINE_STAGES["identity"].params, "identity", {**arguments, "identity_seeds": "[1,"})
    with pytest.raises(ConfigError, match=r"identity_latent_index: missing"):
        from_inputs(PIPELINE_STAGES["identity"].params, "identity",
                    {k: v for k, v in arguments.items() if k != "identity_latent_index"})
    # KFP's own checks on the pipeline call name the input too
    with pytest.raises(TypeError, match="identity_cout"):
        fer_pipeline(identity_cout=3)
    with pytest.raises(Exception, match="'identity_count'.*STRING.*NUMBER_INTEGER"):
        fer_pipeline(identity_count="many")


def test_compiled_header_shows_integers(root_inputs):
    header = [line for line in cluster_cli.COMPILED.read_text().splitlines() if line.startswith("#")]
    assert "#    identity_count: int [Default: 256]" in header and "#    train_lr: float [Default: 0.002]" in header
    assert Path(cluster_cli.COMPILED).stat().st_size < 250_000


@pytest.mark.parametrize("command", ["submit", "schedule"])
def test_submit_and_schedule_send_every_input(command, tmp_path, monkeypatch, root_inputs):
    from components.cli import main

    _, inputs = root_inputs
    sent = {}
    monkeypatch.setattr(cluster_cli, command, lambda host, *args, **kwargs: sent.update(
        next(a for a in args if isinstance(a, dict))) or "run-1")
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"identity": {"count": 32}, "select": {"weights": {"niqe": -2.0}}}))
    extra = ["--cron", "0 0 2 * * *"] if command == "schedule" else []
    assert main([command, "--host", "http://kfp", "--config", str(config), *extra]) == 0
    assert set(sent) == set(inputs) - {"shards"}
    assert sent["identity_count"] == 32 and sent["select_weights"] == {"niqe": -2.0} and sent["identity_seeds"] == ""
    python_type = {kfp: python for python, kfp in KFP_TYPES.items()}
    assert all(type(value) is python_type[inputs[name]["parameterType"]] for name, value in sent.items())
