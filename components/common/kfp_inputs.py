"""Stage parameters as typed KFP inputs: every field of a stage's pydantic model is its own input,
named `<stage>_<field>`, so the KFP UI shows `identity_count: 256` with the field's description.

    int -> NUMBER_INTEGER, float -> NUMBER_DOUBLE, bool -> BOOLEAN, str and Literal -> STRING,
    list -> LIST, dict and sub-models -> STRUCT

A field that accepts None is a STRING input: empty means not set, anything else is the value as
JSON (a text field's value is the text itself). KFP parameters cannot be None, and kfp.local fails
on an optional input left without a value.

`stage_component` makes a KFP lightweight component of an op written with one placeholder argument,
`params: <Model>`: the component has the stage's typed inputs instead, and its shipped source (KFP
runs the function's source text, not this module's objects) rebuilds the model from them with
`from_inputs` before the op's own body runs.
"""
from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import json
import linecache
import textwrap
from typing import Any, Callable, Literal, Mapping, get_args, get_origin

from pydantic import BaseModel, ValidationError

from .config import ConfigError, _unwrap_optional

PLACEHOLDER = "params"  # the op argument that stage_component replaces by the typed inputs


@dataclasses.dataclass(frozen=True)
class StageInput:
    """One field of a stage's parameters as a KFP input."""
    name: str  # <stage>_<field>
    field: str
    type: type  # int, float, bool, str, list or dict: the KFP parameter type
    default: Any  # in the input's type ("" for a nullable field without a default)
    description: str
    nullable: bool = False  # a STRING input: "" is None, anything else the value as JSON ...
    text: bool = False  # ... or, for a text field, the text itself

    def encode(self, value: Any) -> Any:
        """The input's value for a field value (as pydantic's JSON-mode dump gives it)."""
        if self.nullable:
            if value is None:
                return ""
            return value if self.text else json.dumps(value)
        return self.type(value) if self.type in (int, float) else value

    def decode(self, value: Any) -> Any:
        """The field value for the input's value (validated afterwards by the model)."""
        if not self.nullable:
            return value
        if not isinstance(value, str):
            raise ConfigError(f"{self.name}: expected text (empty: not set), got {value!r}")
        if value == "" or self.text:
            return value or None
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{self.name}: not JSON ({exc.msg}): {value!r}") from None


def _kind(annotation: Any) -> type | None:
    origin = get_origin(annotation)
    if annotation in (bool, int, float, str):
        return annotation
    if origin is Literal:
        return str if all(isinstance(v, str) for v in get_args(annotation)) else None
    if annotation in (list, tuple) or origin in (list, tuple):
        return list
    if annotation is dict or origin is dict or (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        return dict
    return None


def _description(field, annotation: Any, nullable: bool, text: bool) -> str:
    words = " ".join((field.description or "").split())
    if get_origin(annotation) is Literal:
        words += f" (one of: {', '.join(get_args(annotation))})"
    if nullable:
        words += " (empty: not set)" if text else " (empty: not set; otherwise JSON)"
    return words.strip()


@functools.cache
def stage_inputs(model: type[BaseModel], stage: str) -> tuple[StageInput, ...]:
    """The KFP inputs of a stage's parameter model, in field order; defaults are the model's."""
    defaults = model().model_dump(mode="json")
    inputs = []
    for name, field in model.model_fields.items():
        annotation, optional = _unwrap_optional(field.annotation)
        kind = _kind(annotation)
        if kind is None:
            raise TypeError(f"{model.__name__}.{name}: no KFP input type for {field.annotation!r}")
        nullable = optional or defaults[name] is None
        text = nullable and kind is str
        spec = StageInput(f"{stage}_{name}", name, str if nullable else kind, None,
                          _description(field, annotation, nullable, text), nullable, text)
        inputs.append(dataclasses.replace(spec, default=spec.encode(defaults[name])))
    return tuple(inputs)


def to_arguments(params: BaseModel, stage: str) -> dict[str, Any]:
    """A stage's validated parameters as its KFP input values."""
    dumped = params.model_dump(mode="json")
    return {spec.name: spec.encode(dumped[spec.field]) for spec in stage_inputs(type(params), stage)}


def validation_message(exc: ValidationError, stage: str, where: str) -> str:
    """A pydantic error with each field named as its KFP input."""
    lines = [f"{where}: invalid {stage} parameters"]
    for err in exc.errors():
        loc = list(err["loc"])
        name = f"{stage}_{loc[0]}" + "".join(f"[{p!r}]" for p in loc[1:]) if loc else "(all)"
        lines.append(f"  {name}: {err['msg']}")
    return "\n".join(lines)


def from_inputs(model: type[BaseModel], stage: str, values: Mapping[str, Any], **overrides) -> BaseModel:
    """The stage's parameters from its KFP input values (e.g. a component's `locals()`), validated."""
    data = {}
    for spec in stage_inputs(model, stage):
        if spec.name not in values:
            raise ConfigError(f"{spec.name}: missing input of stage {stage}")
        data[spec.field] = spec.decode(values[spec.name])
    try:
        return model.model_validate({**data, **overrides})
    except ValidationError as exc:
        raise ConfigError(validation_message(exc, stage, "KFP inputs")) from None


def _typed_source(func: Callable, stage: str, model: type[BaseModel]) -> tuple[str, str]:
    """(function name, source): the op's source with the placeholder argument replaced by the typed
    inputs and the model rebuilt from them as the body's first statements (after the docstring)."""
    lines = textwrap.dedent(inspect.getsource(func)).splitlines()
    node = ast.parse("\n".join(lines)).body[0]
    if not isinstance(node, ast.FunctionDef):
        raise TypeError(f"stage_component decorates a function, not {type(node).__name__}")
    arg = next((a for a in node.args.args if a.arg == PLACEHOLDER), None)
    if arg is None or arg.lineno != arg.end_lineno:
        raise TypeError(f"{node.name}: needs the placeholder argument `{PLACEHOLDER}: {model.__name__}` on one line")
    body = node.body
    docstring = isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant)
    at = body[0].end_lineno if docstring else body[0].lineno - 1  # insert after this line
    indent = " " * body[0].col_offset
    lines[at:at] = [f"{indent}from components.common.kfp_inputs import from_inputs",
                    f"{indent}from {model.__module__} import {model.__name__}",
                    f"{indent}{PLACEHOLDER} = from_inputs({model.__name__}, {stage!r}, locals())"]
    typed = ", ".join(f"{spec.name}: {spec.type.__name__}" for spec in stage_inputs(model, stage))
    row = lines[arg.lineno - 1]
    lines[arg.lineno - 1] = row[:arg.col_offset] + typed + row[arg.end_col_offset:]
    return node.name, "\n".join(lines[node.lineno - 1:]) + "\n"  # from the `def` line: no decorators


def typed_op(func: Callable, stage: str, model: type[BaseModel]) -> Callable:
    """The op as a function with the stage's typed inputs; its source is readable by `inspect`
    (registered in linecache), which is what KFP ships to the container."""
    name, source = _typed_source(func, stage, model)
    filename = f"<{func.__module__}.{name} with {stage} inputs>"
    namespace = dict(func.__globals__)  # the module's names: Input, Output, Dataset, List, ...
    exec(compile(source, filename, "exec", dont_inherit=True), namespace)  # no __future__ annotations
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    return namespace[name]


def stage_component(stage: str, model: type[BaseModel], **component_args) -> Callable:
    """@stage_component("identity", IdentityParams): a lightweight component in the stage's image whose
    `params: IdentityParams` argument is the typed inputs `identity_backend: str, identity_count: int, ...`."""
    from kfp import dsl

    from .images import stage_image

    def decorate(func: Callable):
        return dsl.component(typed_op(func, stage, model), base_image=stage_image(stage), install_kfp_package=False,
                             **component_args)
    return decorate
