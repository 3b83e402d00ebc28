"""Typed configs: one pydantic model per component, loaded from YAML and validated on load.

Errors are turned into :class:`~robot_rl.errors.ConfigError` messages that name the field path,
the offending value and what is allowed, e.g.::

    configs/quickstart.yaml: loop.clip_high: got -0.1; Input should be greater than 0
    configs/quickstart.yaml: loop.clipp: unknown key; allowed keys: clip_high, clip_low, ...
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from robot_rl.errors import ConfigError

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


class _StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a mapping holding the same key twice.

    PyYAML keeps the last value of a repeated key without a word, so a config that sets a field
    twice would silently run with whichever came last. Merge keys (``<<: *base``) may still be
    overridden: only keys written out in the mapping itself are compared.
    """

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=deep)
                try:
                    duplicate = key in seen
                except TypeError:  # an unhashable key: PyYAML's own constructor reports it
                    continue
                if duplicate:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping", node.start_mark, f"found duplicate key {key!r}",
                        key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str, source: str = "config") -> Any:
    """Parse YAML ``text`` with the strict loader (safe types only, no repeated keys).

    The one YAML reader of the project: config files (through :func:`load_yaml`), YAML blobs
    embedded elsewhere (an ONNX file's spec) and ``KEY=VALUE`` overrides on command lines.
    Raises :class:`ConfigError` naming ``source`` and the line when the text is not valid YAML.
    """
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - _StrictLoader is a SafeLoader
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"{source}: not valid YAML{where}: {err.problem or err}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{source}: not valid YAML: {err}") from None


def load_yaml(path: str | Path) -> Any:
    """Read a YAML file with :func:`parse_yaml`, naming the file in every error."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    return parse_yaml(path.read_text(), str(path))


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
