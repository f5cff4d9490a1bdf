"""Stage parameters: one pydantic model per stage is the single source of truth.

CLI flags (`add_arguments` / `from_args`) and YAML config sections (`load_config`)
are derived from the models here; KFP pipeline parameters are derived from them in
`pipelines/`. Nothing is declared twice.
"""
from __future__ import annotations

import argparse
import json
import types
import typing
from pathlib import Path
from typing import Any, ClassVar, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError


class StageParams(BaseModel):
    """Base for every stage's parameters: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
    # Fields that say how a stage runs, not what it makes (e.g. its worker processes): a resume may change them.
    not_in_output: ClassVar[frozenset[str]] = frozenset()

    def output_params(self) -> dict:
        """The parameters that decide the stage's output (what a resume must keep)."""
        return self.model_dump(exclude=set(self.not_in_output))


class ConfigError(ValueError):
    pass


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    origin = get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


def add_arguments(parser: argparse.ArgumentParser, model: type[StageParams]) -> None:
    """Add one flag per model field; defaults stay unset so config files can fill them."""
    for name, field in model.model_fields.items():
        annotation, _ = _unwrap_optional(field.annotation)
        help_text = (field.description or "") + f" (default: {field.default!r})"
        kwargs: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS, "help": help_text}
        origin = get_origin(annotation)
        if annotation is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif origin is Literal:
            kwargs["choices"] = list(get_args(annotation))
        elif origin in (list, tuple):
            inner = get_args(annotation)[0] if get_args(annotation) else str
            kwargs["nargs"] = "*"
            kwargs["type"] = inner if inner in (int, float, str) else json.loads  # e.g. '{"AU12": 1}'
        elif annotation is dict or origin is dict:
            kwargs["type"] = json.loads  # e.g. --weights '{"brisque": -1}'
        elif annotation in (int, float, str):
            kwargs["type"] = annotation
        else:
            kwargs["type"] = str
        parser.add_argument(_flag(name), **kwargs)


def _format_validation_error(exc: ValidationError, where: str) -> str:
    lines = [f"{where}: invalid parameters"]
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        lines.append(f"  {loc}: {err['msg']}")
    return "\n".join(lines)


def build_params(model: type[StageParams], *layers: dict[str, Any], where: str = "parameters") -> StageParams:
    """Merge layers left to right (later wins) and validate, with a readable error."""
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update({k: v for k, v in layer.items() if v is not None or k in merged})
    try:
        return model.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc, where)) from None


def from_args(model: type[StageParams], args: argparse.Namespace, config_section: dict | None = None,
              where: str = "parameters") -> StageParams:
    cli = {name: getattr(args, name) for name in model.model_fields if hasattr(args, name)}
    return build_params(model, config_section or {}, cli, where=where)


def load_config(path: str | Path) -> dict[str, dict[str, Any]]:
    """Read a YAML run config: a mapping of stage name -> that stage's parameters."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(v, dict) or v is None for v in data.values()):
        raise ConfigError(f"{path}: expected a mapping of stage name -> parameters, e.g. 'identity: {{count: 64}}'")
    return {str(k): dict(v or {}) for k, v in data.items()}
