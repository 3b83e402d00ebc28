"""Config <-> ROS parameter mapping and parameter files, without ROS."""

from __future__ import annotations

import pytest
from pydantic import Field

from robot_rl.config import StrictConfig
from robot_rl.errors import ConfigError
from robot_rl.ros_config import NODE_CONFIGS, ExecutorConfig, load_node_params, node_section, parameter_fields
from robot_rl.ros_config.params_file import flatten, unflatten


def test_every_node_config_maps_onto_ros_parameters():
    for model in NODE_CONFIGS.values():
        fields = parameter_fields(model)
        assert fields and len({f.name for f in fields}) == len(fields)
    kinds = {f.name: f.kind for f in parameter_fields(ExecutorConfig)}
    assert kinds["limits.workspace_low"] == "float[]"
    assert kinds["heartbeat_topics"] == "str[]"
    assert kinds["command_type"] == "str" and kinds["dry_run"] == "bool"


def test_unsupported_field_types_are_refused_by_name():
    class Inner(StrictConfig):
        x: int = 1

    class Bad(StrictConfig):
        maybe: float | None = None

    class AlsoBad(StrictConfig):
        items: list[Inner] = Field(default_factory=list)

    with pytest.raises(ConfigError, match="Bad.maybe: optional"):
        parameter_fields(Bad)
    with pytest.raises(ConfigError, match="AlsoBad.items"):
        parameter_fields(AlsoBad)


def test_flatten_and_unflatten_are_inverse():
    nested = {"a": 1, "limits": {"x": [1.0, 2.0], "deep": {"y": "s"}}}
    flat = flatten(nested)
    assert flat == {"a": 1, "limits.x": [1.0, 2.0], "limits.deep.y": "s"}
    assert unflatten(flat) == nested


def test_node_section_merges_wildcards_then_the_node_and_ignores_others():
    data = {
        "/**": {"ros__parameters": {"dry_run": True, "limits": {"max_step_translation_m": 0.01}}},
        "/robot/action_executor": {"ros__parameters": {"dry_run": False}},
        "camera_node": {"ros__parameters": {"fps": 15}},
    }
    section = node_section(data, "action_executor", namespace="/robot")
    assert section == {"dry_run": False, "limits": {"max_step_translation_m": 0.01}}
    assert node_section(data, "action_executor") == {"dry_run": True, "limits": {"max_step_translation_m": 0.01}}
    with pytest.raises(ConfigError, match="ros__parameters"):
        node_section({"action_executor": {"dry_run": True}}, "action_executor")


def test_load_node_params_names_the_bad_field(tmp_path):
    path = tmp_path / "executor.yaml"
    path.write_text("action_executor:\n  ros__parameters:\n    limits:\n      workspace_low: [0, 0]\n")
    with pytest.raises(ConfigError, match=r"action_executor: limits\.workspace_low"):
        load_node_params(path, "action_executor", ExecutorConfig)
    path.write_text("action_executor:\n  ros__parameters:\n    dry_runn: false\n")
    with pytest.raises(ConfigError, match="dry_runn: unknown key"):
        load_node_params(path, "action_executor", ExecutorConfig)
    path.write_text("action_executor:\n  ros__parameters:\n    command_type: twist\n")
    assert load_node_params(path, "action_executor", ExecutorConfig).command_type == "twist"
