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


SHARED_FILE = {
    "/**": {"ros__parameters": {"spec": "arm7_joint", "camera_name": "wrist",  # camera_name: another node's
                                "qos_overrides": {"/robot_rl/command/pose": {"publisher": {"depth": 5}}}}},
    "action_executor": {"ros__parameters": {"dry_run": False, "use_sim_time": True}},
}


def test_a_shared_section_gives_each_node_only_the_parameters_it_has(tmp_path):
    import yaml
    path = tmp_path / "graph.yaml"
    path.write_text(yaml.safe_dump(SHARED_FILE))
    cfg = load_node_params(path, "action_executor", ExecutorConfig)  # camera_name, qos_overrides, use_sim_time: fine
    assert (cfg.spec, cfg.dry_run) == ("arm7_joint", False)
    camera = load_node_params(path, "wrist_camera", NODE_CONFIGS["camera_node"])  # no spec field: not given one
    assert camera.camera_name == "wrist"
    # A misspelt name in the node's own section is still an error.
    path.write_text(yaml.safe_dump({**SHARED_FILE, "action_executor": {"ros__parameters": {"dry_rnu": False}}}))
    with pytest.raises(ConfigError, match="dry_rnu"):
        load_node_params(path, "action_executor", ExecutorConfig)


def test_standard_parameters_and_shared_only_names():
    from robot_rl.ros_config.params_file import is_standard_parameter, shared_only_names
    assert is_standard_parameter("qos_overrides./robot_rl/command/pose.publisher.depth")
    assert is_standard_parameter("use_sim_time") and not is_standard_parameter("spec")
    assert shared_only_names(SHARED_FILE, "action_executor") == {
        "spec", "camera_name", "qos_overrides./robot_rl/command/pose.publisher.depth"}
    both = {**SHARED_FILE, "action_executor": {"ros__parameters": {"spec": "tabletop"}}}
    assert "spec" not in shared_only_names(both, "action_executor")  # also in its own section
    assert node_section(both, "action_executor")["spec"] == "tabletop"  # the node's own section wins


def test_params_files_are_read_from_the_ros_args_blocks():
    from robot_rl.ros_config.params_file import params_files_in_args
    argv = ["node", "--params-file", "not_ros.yaml", "--ros-args", "-r", "__node:=x", "--params-file", "a.yaml",
            "-p", "k:=1", "--", "--params-file", "app.yaml", "--ros-args", "--params-file", "b.yaml"]
    assert params_files_in_args(argv) == ["a.yaml", "b.yaml"]
