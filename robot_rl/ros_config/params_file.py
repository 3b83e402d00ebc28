"""Map typed configs onto ROS 2 parameters and parameter files, without ROS.

ROS parameters are flat names with scalar or array values; a config's nested models become
dotted names (``limits.max_step_translation_m``), exactly as a ROS parameter file's nested
mappings do. Defaults come from the config model only: nodes declare parameters from
:func:`parameter_fields`, and parameter files are validated by the same model
(:func:`load_node_params`), with or without ROS running.

Parameter files use the standard layout::

    /**:                        # every node: each takes the parameters it has (spec: not the cameras)
      ros__parameters:
        spec: tabletop
    action_executor:            # node name; also "/ns/node" and "/**/node" are understood
      ros__parameters:
        dry_run: true
        limits:
          max_step_translation_m: 0.02

A ``/**`` section is shared: a node ignores the parameters in it that it does not have, while an
unknown name in the node's own section is an error (a misspelt key must not be silently ignored).
rclpy's own parameters (``use_sim_time``, ``qos_overrides.*``; :func:`is_standard_parameter`) are
accepted anywhere and never reach the config model.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from robot_rl.config import StrictConfig, load_yaml, validate_config
from robot_rl.errors import ConfigError

ParamKind = Literal["bool", "int", "float", "str", "bool[]", "int[]", "float[]", "str[]"]

_SCALARS: dict[Any, ParamKind] = {bool: "bool", int: "int", float: "float", str: "str"}


@dataclass(frozen=True)
class ParamField:
    """One ROS parameter derived from a config field."""

    name: str          # dotted path, e.g. "limits.workspace_low"
    kind: ParamKind
    default: Any       # JSON-like value from the model's default
    description: str


def _kind_of(annotation: Any, where: str) -> ParamKind:
    origin = typing.get_origin(annotation)
    if annotation in _SCALARS:
        return _SCALARS[annotation]
    if origin is Literal:
        values = typing.get_args(annotation)
        kinds = {_SCALARS.get(type(v)) for v in values}
        if len(kinds) == 1 and None not in kinds:
            return kinds.pop()
    if origin in (list, tuple):
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        if args and all(a == args[0] for a in args) and args[0] in _SCALARS:
            return f"{_SCALARS[args[0]]}[]"  # type: ignore[return-value]
    raise ConfigError(f"{where}: type {annotation!r} cannot be a ROS parameter "
                      "(use bool, int, float, str, a Literal of those, or a list of one of them)")


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def parameter_fields(model: type[StrictConfig], prefix: str = "") -> list[ParamField]:
    """Every ROS parameter of ``model``, nested models flattened to dotted names.

    Raises :class:`ConfigError` for a field type ROS parameters cannot carry (e.g. ``None``
    defaults or lists of models), so such a config fails in tests, not on the robot.
    """
    out: list[ParamField] = []
    instance = model()  # every node config must be constructible from defaults alone
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        annotation = field.annotation
        if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
            raise ConfigError(f"{model.__name__}.{path}: optional/union types cannot be ROS parameters; "
                              "use an empty string or 0 to mean 'unset'")
        if _is_model(annotation):
            out.extend(parameter_fields(annotation, prefix=f"{path}."))
            continue
        default = getattr(instance, name)
        out.append(ParamField(path, _kind_of(annotation, f"{model.__name__}.{path}"),
                              list(default) if isinstance(default, (list, tuple)) else default,
                              field.description or ""))
    return out


def unflatten(flat: dict[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1, "c": 2}`` -> ``{"a": {"b": 1}, "c": 2}``."""
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        node = nested
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return nested


def flatten(nested: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Inverse of :func:`unflatten`."""
    out: dict[str, Any] = {}
    for key, value in nested.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


# Parameters rclpy itself declares or reads on every node: not fields of our configs.
STANDARD_PARAMETERS = frozenset({"use_sim_time", "start_type_description_service"})
QOS_OVERRIDES_PREFIX = "qos_overrides."  # qos_overrides./topic.publisher.reliability etc. (ROS 2 QoS overrides)
SHARED_SECTION = "/**"


def is_standard_parameter(name: str) -> bool:
    """True for rclpy's own parameters (``use_sim_time``, ``qos_overrides.*``), which every node accepts."""
    return name in STANDARD_PARAMETERS or name.startswith(QOS_OVERRIDES_PREFIX)


def _is_shared(key: str) -> bool:
    return key.rstrip("/") == SHARED_SECTION


def _matches(key: str, node_name: str, namespace: str) -> bool:
    key = key.rstrip("/")
    full = f"{namespace.rstrip('/')}/{node_name}" if namespace.strip("/") else f"/{node_name}"
    return key in ("/**", node_name, full, f"/**/{node_name}")


def _sections(data: Any, node_name: str, namespace: str, source: str) -> list[tuple[bool, dict[str, Any]]]:
    """``(shared, flat parameters)`` of every section that applies to the node, shared ones first."""
    if data is None:
        return []
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a ROS parameter file must map node names to sections")
    out = []
    for key in sorted(data, key=lambda k: 0 if "*" in str(k) else 1):
        if not _matches(str(key), node_name, namespace):
            continue
        section = data[key]
        if not isinstance(section, dict) or set(section) != {"ros__parameters"}:
            raise ConfigError(f"{source}: {key}: expected exactly one key 'ros__parameters', "
                              f"got {sorted(section) if isinstance(section, dict) else section!r}")
        params = section["ros__parameters"] or {}
        if not isinstance(params, dict):
            raise ConfigError(f"{source}: {key}.ros__parameters: expected a mapping")
        out.append((_is_shared(str(key)), flatten(params)))
    return out


def node_section(data: Any, node_name: str, namespace: str = "", source: str = "params",
                 known: Collection[str] | None = None) -> dict[str, Any]:
    """The ``ros__parameters`` that apply to ``node_name`` in a parsed parameter file.

    Wildcard sections (``/**``) apply first, then the node's own section overrides them.
    Returns nested mappings (as written in the file).

    :param known: the node's parameter names (dotted). When given, a shared (``/**``) section
        contributes only these, and rclpy's own parameters (:func:`is_standard_parameter`) are
        left out of every section, so what is returned is for the node's config model alone.
    """
    merged: dict[str, Any] = {}
    for shared, params in _sections(data, node_name, namespace, source):
        if known is not None:
            params = {k: v for k, v in params.items()
                      if not is_standard_parameter(k) and (not shared or k in known)}
        merged.update(params)
    return unflatten(merged)


def shared_only_names(data: Any, node_name: str, namespace: str = "", source: str = "params") -> set[str]:
    """Parameter names a parsed file gives ``node_name`` only through shared (``/**``) sections."""
    shared: set[str] = set()
    own: set[str] = set()
    for is_shared, params in _sections(data, node_name, namespace, source):
        (shared if is_shared else own).update(params)
    return shared - own


def _ros_args_values(args: Sequence[str], flags: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    in_ros = False
    it = iter(args)
    for arg in it:
        if arg == "--ros-args":
            in_ros = True
        elif arg == "--":
            in_ros = False
        elif in_ros and arg in flags:
            value = next(it, None)
            if value is not None:
                out.append(value)
    return out


def params_files_in_args(args: Sequence[str]) -> list[str]:
    """The ``--params-file PATH`` arguments inside ``--ros-args ... [--]`` blocks of a command line."""
    return _ros_args_values(args, ("--params-file",))


def param_names_in_args(args: Sequence[str]) -> set[str]:
    """The names set by ``-p NAME:=VALUE`` (``--param``) inside ``--ros-args`` blocks (node prefixes dropped)."""
    names = set()
    for item in _ros_args_values(args, ("-p", "--param")):
        name = item.partition(":=")[0]
        names.add(name.rsplit(":", 1)[-1])  # "node:name:=v" targets one node by name
    return names


def node_names(data: Any) -> list[str]:
    """Node keys of a parsed parameter file (without the leading namespace slash), wildcards left out."""
    if not isinstance(data, dict):
        return []
    return [str(k).rstrip("/").rsplit("/", 1)[-1] for k in data if "*" not in str(k)]


def load_node_params(path: str | Path, node_name: str, model: type[StrictConfig], namespace: str = "") -> StrictConfig:
    """Validate the parameters a ROS parameter file gives ``node_name`` against ``model``."""
    known = {f.name for f in parameter_fields(model)}
    section = node_section(load_yaml(path), node_name, namespace, str(path), known=known)
    return validate_config(model, section, f"{path}: {node_name}")
