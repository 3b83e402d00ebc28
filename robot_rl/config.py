"""Typed configs: one pydantic model per component, loaded from YAML and validated on load.

Errors are turned into :class:`~robot_rl.errors.ConfigError` messages that name the field path,
the offending value and what is allowed, e.g.::

    configs/quickstart.yaml: loop.clip_high: got -0.1; Input should be greater than 0
    configs/quickstart.yaml: loop.clipp: unknown key; allowed keys: clip_high, clip_low, ...

Files are read by :func:`~robot_rl.yaml_loader.load_yaml` (re-exported here), which refuses repeated
keys and files that are not a mapping.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from robot_rl.errors import ConfigError
from robot_rl.yaml_loader import load_yaml, parse_yaml

__all__ = ["StrictConfig", "format_validation_error", "load_config", "load_yaml", "parse_yaml", "validate_config"]

C = TypeVar("C", bound="StrictConfig")


class StrictConfig(BaseModel):
    """Base for every robot_rl config: unknown keys are errors and instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _field_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "<root>"


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """Walk ``loc`` (minus its last element) through nested models to find the owning model."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int) or not (isinstance(current, type) and issubclass(current, BaseModel)):
            continue
        field = current.model_fields.get(str(part))
        if field is None:
            return None
        annotation = field.annotation
        # Unwrap list[Model] / Optional[Model] to the model class.
        for arg in (annotation, *getattr(annotation, "__args__", ())):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                current = arg
                break
            for inner in getattr(arg, "__args__", ()):
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    current = inner
                    break
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def format_validation_error(model: type[BaseModel], err: ValidationError, source: str) -> str:
    """One line per problem: ``source: field.path: got VALUE; what is allowed``."""
    lines = []
    for e in err.errors():
        loc = tuple(e["loc"])
        path = _field_path(loc)
        if e["type"] == "extra_forbidden":
            owner = _model_at(model, loc)
            allowed = ", ".join(sorted(owner.model_fields)) if owner else "?"
            lines.append(f"{source}: {path}: unknown key; allowed keys: {allowed}")
        elif e["type"] == "missing":
            lines.append(f"{source}: {path}: required field is missing")
        else:
            lines.append(f"{source}: {path}: got {e.get('input')!r}; {e['msg']}")
    return "\n".join(lines)


def validate_config(model: type[C], data: Any, source: str = "config") -> C:
    """Validate a plain mapping into ``model``; raise :class:`ConfigError` naming every bad field."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of keys to values, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(model, err, source)) from None


def load_config(model: type[C], path: str | Path, section: str | None = None) -> C:
    """Load ``path`` (optionally one top-level ``section`` of it) and validate it into ``model``."""
    data = load_yaml(path)
    source = str(path)
    if section is not None:
        if not isinstance(data, dict) or section not in data:
            raise ConfigError(f"{path}: missing section '{section}'")
        data = data[section]
        source = f"{path}: {section}"
    return validate_config(model, data, source)
