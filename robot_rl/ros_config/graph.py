"""A node graph for ``robot-rl up``: the nodes of a launch file, as data (``launch/graphs/*.yaml``).

``ros2 launch`` is not installable from pip, so ``robot-rl up GRAPH`` starts the same nodes from
the same parameter files as separate processes. A graph file::

    description: sim robot + policy + safety executor
    env: {FASTDDS_BUILTIN_TRANSPORTS: LARGE_DATA}
    nodes:
      - {executable: sim_robot_node, name: sim_robot, params: [../config/sim_robot.yaml]}
      - {executable: policy_node, name: policy_node, params: [../config/policy.yaml],
         overrides: {buffer_path: runs/robot/rollouts.zarr}}

Parameter file paths are relative to the graph file. Everything is validated before any process
starts: each node's parameter files plus overrides go through the node's typed config
(:data:`robot_rl.ros_config.NODE_CONFIGS`), so a typo fails here, naming the node and the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from robot_rl.config import StrictConfig, load_config, load_yaml, parse_yaml, validate_config
from robot_rl.errors import ConfigError
from robot_rl.ros_config.params_file import flatten, is_standard_parameter, node_section, parameter_fields, unflatten

ParamValue = bool | int | float | str | list[bool] | list[int] | list[float] | list[str]


class GraphNode(StrictConfig):
    """One node process: console script, node name, parameter files (in order) and overrides."""

    executable: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    params: list[str] = []
    overrides: dict[str, ParamValue] = {}


class GraphConfig(StrictConfig):
    """A graph of node processes (see the module docstring)."""

    description: str = ""
    env: dict[str, str] = {}  # defaults: a variable set in the caller's environment wins
    profiles: str = ""  # folder of robot profiles (NAME.yaml), relative to the graph file; empty = none
    nodes: list[GraphNode] = Field(min_length=1)

    @field_validator("nodes")
    @classmethod
    def _unique(cls, v: list[GraphNode]) -> list[GraphNode]:
        names = [n.name for n in v]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"node names must be unique; repeated: {', '.join(dupes)}")
        return v


def load_graph(path: str | Path) -> GraphConfig:
    return load_config(GraphConfig, path)


def apply_overrides(graph: GraphConfig, sets: dict[str, Any]) -> GraphConfig:
    """``{"policy_node.buffer_path": "x"}`` -> the graph with that override added (unknown node: ConfigError)."""
    by_name = {n.name: dict(n.overrides) for n in graph.nodes}
    for key, value in sets.items():
        node, sep, param = key.partition(".")
        if not sep or node not in by_name:
            raise ConfigError(f"--set {key}: expected NODE.PARAM with NODE one of {', '.join(by_name)}")
        by_name[node][param] = value
    nodes = [n.model_copy(update={"overrides": by_name[n.name]}) for n in graph.nodes]
    return validate_config(GraphConfig, {**graph.model_dump(), "nodes": [n.model_dump() for n in nodes]}, "graph")


def profile_names(graph: GraphConfig, base: Path) -> list[str]:
    """The robot profiles a graph offers (``PROFILES/NAME.yaml``)."""
    return sorted(p.stem for p in (base / graph.profiles).glob("*.yaml")) if graph.profiles else []


def profile_uses_external_cameras(profile: dict[str, Any]) -> bool:
    """True when a parsed profile takes the policy's images from another driver (``image_topics``):
    robot_rl's own camera nodes must not start then, or they would open the same devices."""
    section = (profile.get("policy_node") or {}).get("ros__parameters") or {}
    return bool(section.get("image_topics"))


def apply_profile(graph: GraphConfig, base: Path, name: str) -> GraphConfig:
    """The graph with robot profile ``name`` layered after every node's files (see ``launch/config/profiles``).

    Camera nodes are dropped when the profile's images come from another driver
    (:func:`profile_uses_external_cameras`). ConfigError names the allowed profiles.
    """
    names = profile_names(graph, base)
    if name not in names:
        raise ConfigError(f"robot profile {name!r}: allowed: {', '.join(names) or 'none (this graph has no profiles)'}")
    path = base / graph.profiles / f"{name}.yaml"
    external = profile_uses_external_cameras(load_yaml(path) or {})
    nodes = [n.model_copy(update={"params": [*n.params, str(Path(graph.profiles) / f"{name}.yaml")]})
             for n in graph.nodes if not (external and n.executable == "camera_node")]
    return validate_config(GraphConfig, {**graph.model_dump(), "nodes": [n.model_dump() for n in nodes]}, "graph")


def resolve_params(graph: GraphConfig, base: Path) -> dict[str, list[Path]]:
    """Node name -> its parameter files as absolute paths (relative ones resolved against ``base``)."""
    out = {}
    for n in graph.nodes:
        paths = [(base / p).resolve() if not Path(p).is_absolute() else Path(p) for p in n.params]
        for p in paths:
            if not p.is_file():
                raise ConfigError(f"node '{n.name}': parameter file {p} does not exist")
        out[n.name] = paths
    return out


def validate_graph(graph: GraphConfig, base: Path, node_configs: dict[str, type[StrictConfig]]) -> dict[str, StrictConfig]:
    """Validate every node's merged parameters (files in order, then overrides) against its config."""
    params = resolve_params(graph, base)
    out = {}
    for n in graph.nodes:
        if n.executable not in node_configs:
            raise ConfigError(f"node '{n.name}': executable '{n.executable}' has no config model; "
                              f"known: {', '.join(sorted(node_configs))}")
        merged: dict[str, Any] = {}
        known = {f.name for f in parameter_fields(node_configs[n.executable])}
        for path in params[n.name]:
            merged.update(flatten(node_section(load_yaml(path), n.name, source=str(path), known=known)))
        merged.update({k: v for k, v in flatten(unflatten(n.overrides)).items() if not is_standard_parameter(k)})
        out[n.name] = validate_config(node_configs[n.executable], unflatten(merged), f"node '{n.name}'")
    return out


def _ros_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ",".join(_ros_value(v) for v in value) + "]"
    if isinstance(value, str):
        # rcl reads a -p value as YAML: quote whatever YAML would not read back as this very string
        # (empty, true/false, numbers, JSON objects such as suite_options, ...).
        return value if value and _reads_back(value) else "'" + value.replace("'", "''") + "'"
    return repr(value)


def _reads_back(text: str) -> bool:
    try:
        return parse_yaml(text, "-p value") == text and text.strip() == text
    except ConfigError:
        return False


def node_command(node: GraphNode, executable: str, param_files: list[Path]) -> list[str]:
    """The command line that starts ``node``: ``EXE --ros-args -r __node:=NAME --params-file F -p k:=v``."""
    cmd = [executable, "--ros-args", "-r", f"__node:={node.name}"]
    for path in param_files:
        cmd += ["--params-file", str(path)]
    for key, value in node.overrides.items():
        cmd += ["-p", f"{key}:={_ros_value(value)}"]
    return cmd
