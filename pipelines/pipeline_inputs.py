"""The pipelines' inputs: every parameter of every stage is its own typed pipeline input,
`<stage>_<field>` (components/common/kfp_inputs.py), with the stage model's default and description.

    @dsl.pipeline(name="fersynth")
    @typed_pipeline("identity", "train")
    def p(stages: dict, shards: int = 1):        # stages["train"]: {"train_lr": <channel>, ...}
        train_op(**stages["train"], labelled=...)

    fer_pipeline(**pipeline_arguments({"identity": {"count": 64}, "train": TrainParams()}), shards=2)
"""
from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Mapping

from pydantic import BaseModel, ValidationError

from components.common.config import ConfigError
from components.common.kfp_inputs import StageInput, stage_inputs, to_arguments, validation_message
from components.stages import PIPELINE_STAGES


def inputs_of(stage: str) -> tuple[StageInput, ...]:
    if stage not in PIPELINE_STAGES:
        raise ConfigError(f"unknown stage {stage!r} (known: {sorted(PIPELINE_STAGES)})")
    return stage_inputs(PIPELINE_STAGES[stage].params, stage)


def pipeline_arguments(stage_params: Mapping[str, BaseModel | dict], where: str = "parameters") -> dict[str, Any]:
    """Per-stage parameters (models, or dicts validated here) as the pipeline's arguments: every
    field of every stage given, by its input name. Stages left out keep the pipeline's defaults."""
    arguments: dict[str, Any] = {}
    for stage, params in stage_params.items():
        inputs_of(stage)  # a known stage
        model = PIPELINE_STAGES[stage].params
        if isinstance(params, BaseModel):
            if not isinstance(params, model):
                raise ConfigError(f"{where} [{stage}]: expected {model.__name__}, got {type(params).__name__}")
        else:
            try:
                params = model.model_validate(params)
            except ValidationError as exc:
                raise ConfigError(validation_message(exc, stage, where)) from None
        arguments.update(to_arguments(params, stage))
    return arguments


def _docstring(func: Callable, inputs: list[StageInput]) -> str:
    """The function's docstring with an Args: line per stage input (KFP takes input descriptions from
    there); its own Args: section, if any, must come last."""
    doc = inspect.cleandoc(func.__doc__ or func.__name__)
    if "\nArgs:" not in doc:
        doc += "\n\nArgs:"
    return doc + "".join(f"\n    {spec.name}: {spec.description}" for spec in inputs)


def typed_pipeline(*stages: str) -> Callable:
    """A pipeline function `f(stages, **extra)` as one whose inputs are every field of `stages`
    (typed, with defaults and descriptions) and then `extra`; `stages` maps each stage to its
    {input name: value} for the stage's ops."""
    def decorate(func: Callable) -> Callable:
        own = inspect.signature(func)
        extra = list(own.parameters.values())[1:]
        by_stage = {stage: inputs_of(stage) for stage in stages}
        inputs = [spec for specs in by_stage.values() for spec in specs]
        signature = inspect.Signature(
            [inspect.Parameter(spec.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=spec.default,
                               annotation=spec.type) for spec in inputs] + extra,
            return_annotation=own.return_annotation)

        @functools.wraps(func)
        def pipeline(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            values = bound.arguments
            return func({stage: {spec.name: values[spec.name] for spec in specs} for stage, specs in by_stage.items()},
                        **{p.name: values[p.name] for p in extra})

        pipeline.__signature__ = signature
        pipeline.__annotations__ = {p.name: p.annotation for p in signature.parameters.values()}
        pipeline.__doc__ = _docstring(func, inputs)
        del pipeline.__wrapped__  # inspect.signature and KFP see the typed inputs, not func's
        return pipeline
    return decorate
