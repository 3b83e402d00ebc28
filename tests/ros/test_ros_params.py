"""ros_nodes.params: ROS parameters declared from the config models, validated through them."""

from __future__ import annotations

import random

import pytest
import yaml

rclpy = pytest.importorskip("rclpy")
from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

from robot_rl.errors import ConfigError  # noqa: E402
from robot_rl.ros_config import ExecutorConfig  # noqa: E402
from robot_rl.safety import SafetyLimits  # noqa: E402
from ros_nodes.params import NodeParams  # noqa: E402


@pytest.fixture(scope="module")
def context():
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=random.randint(1, 200))
    yield ctx
    rclpy.try_shutdown(context=ctx)


def _node(context, overrides=(), cli_args=None) -> Node:
    return Node(f"params_test_{random.randint(0, 10**6)}", context=context, parameter_overrides=list(overrides),
                cli_args=cli_args, use_global_arguments=False)


def test_defaults_come_from_the_model(context):
    node = _node(context)
    params = NodeParams(node, ExecutorConfig)
    assert params.config == ExecutorConfig()
    assert node.get_parameter("limits.max_step_translation_m").value == SafetyLimits().max_step_translation_m
    assert list(node.get_parameter("limits.workspace_low").value) == SafetyLimits().workspace_low
    assert node.get_parameter("dry_run").value is True
    desc = node.describe_parameter("watchdog.chunk_hold_s").description
    assert "hold" in desc
    node.destroy_node()


def test_overrides_are_validated_by_the_model(context):
    node = _node(context, [Parameter("command_latency_s", value=1), Parameter("dry_run", value=False),
                           Parameter("limits.workspace_high", value=[0.9, 0.5, 0.7])])
    cfg = NodeParams(node, ExecutorConfig).config
    assert cfg.command_latency_s == 1.0 and isinstance(cfg.command_latency_s, float)  # an int is fine for a float
    assert cfg.dry_run is False and cfg.limits.workspace_high == [0.9, 0.5, 0.7]
    node.destroy_node()

    bad = _node(context, [Parameter("limits.max_step_translation_m", value=-0.1)])
    with pytest.raises(ConfigError, match=r"limits\.max_step_translation_m: got -0\.1"):
        NodeParams(bad, ExecutorConfig)
    bad.destroy_node()

    typo = _node(context, [Parameter("limits.max_step_translaton_m", value=0.1)])
    with pytest.raises(ConfigError, match="unknown parameter.*max_step_translaton_m"):
        NodeParams(typo, ExecutorConfig)
    typo.destroy_node()


def test_a_ros_parameter_file_with_nested_sections_reaches_the_config(context, tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"/**": {"ros__parameters": {"dry_run": False}},
                                    "exec_under_test": {"ros__parameters": {
                                        "command_type": "twist", "watchdog": {"chunk_stop_s": 3.0}}}}))
    node = Node("exec_under_test", context=context, use_global_arguments=False,
                cli_args=["--ros-args", "--params-file", str(path)])
    cfg = NodeParams(node, ExecutorConfig).config
    assert (cfg.dry_run, cfg.command_type, cfg.watchdog.chunk_stop_s) == (False, "twist", 3.0)
    node.destroy_node()


def test_runtime_changes_are_validated_and_static_fields_are_read_only(context):
    node = _node(context)
    seen = []
    params = NodeParams(node, ExecutorConfig, on_change=seen.append, static=["spec"])
    [bad] = node.set_parameters([Parameter("watchdog.chunk_hold_s", value=5.0)])  # above chunk_stop_s
    assert not bad.successful and "chunk_hold_s" in bad.reason
    assert params.config.watchdog.chunk_hold_s == 0.5 and not seen
    assert node.get_parameter("watchdog.chunk_hold_s").value == 0.5
    [wrong_type] = node.set_parameters([Parameter("dry_run", value="maybe")])
    assert not wrong_type.successful and "dry_run" in wrong_type.reason
    [static] = node.set_parameters([Parameter("spec", value="other")])
    assert not static.successful
    [ok] = node.set_parameters([Parameter("dry_run", value=False)])
    assert ok.successful and params.config.dry_run is False and seen[-1].dry_run is False
    node.destroy_node()


def test_shared_sections_and_qos_overrides_are_accepted_but_an_own_typo_is_not(context, tmp_path):
    path = tmp_path / "graph.yaml"
    path.write_text(yaml.safe_dump({
        "/**": {"ros__parameters": {"spec": "arm7_joint", "camera_name": "wrist",  # camera_name: the cameras'
                                    "qos_overrides": {"/robot_rl/command/pose": {"publisher": {"depth": 5}}}}},
        "exec_shared": {"ros__parameters": {"dry_run": False}},
        "exec_typo": {"ros__parameters": {"dry_rnu": False}},
    }))
    args = ["--ros-args", "--params-file", str(path)]
    node = Node("exec_shared", context=context, use_global_arguments=False, cli_args=args)
    cfg = NodeParams(node, ExecutorConfig, args=args).config
    assert (cfg.spec, cfg.dry_run) == ("arm7_joint", False)
    node.destroy_node()
    typo = Node("exec_typo", context=context, use_global_arguments=False, cli_args=args)
    with pytest.raises(ConfigError, match="unknown parameter.*dry_rnu"):
        NodeParams(typo, ExecutorConfig, args=args)
    typo.destroy_node()
    # -p is the node's own: an unknown name there is an error even if a shared section has it too.
    own = Node("exec_shared", context=context, use_global_arguments=False, cli_args=[*args, "-p", "camera_name:=x"])
    with pytest.raises(ConfigError, match="unknown parameter.*camera_name"):
        NodeParams(own, ExecutorConfig, args=[*args, "-p", "camera_name:=x"])
    own.destroy_node()


@pytest.mark.ros
def test_a_node_process_takes_a_shared_file_and_applies_qos_overrides(tmp_path, node_logs):
    """The executor as launched: common.yaml-style `/**` section with another node's parameter and a
    QoS override of its command publisher; then the same with a typo in its own section (exit 2)."""
    from rclpy.qos import ReliabilityPolicy

    from ros_harness import NodeProcess, Probe, ros_env
    domain = random.randint(1, 200)
    path = tmp_path / "graph.yaml"
    path.write_text(yaml.safe_dump({
        "/**": {"ros__parameters": {"spec": "tabletop", "camera_name": "wrist", "qos_overrides": {
            "/robot_rl/command/pose": {"publisher": {"reliability": "best_effort", "depth": 3}}}}},
        "action_executor": {"ros__parameters": {"dry_run": True}},
    }))
    proc = NodeProcess("action_executor", ["--params-file", str(path)], ros_env(domain, False), node_logs)
    probe = Probe(domain, large_data=False)
    try:
        probe.spin_until(lambda: probe.node.get_publishers_info_by_topic("/robot_rl/command/pose") or not proc.alive(),
                         30.0, "the executor's command publisher")
        assert proc.alive(), proc.log()
        [info] = probe.node.get_publishers_info_by_topic("/robot_rl/command/pose")
        assert info.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT  # (depth is not told over discovery)
    finally:
        probe.close()
        proc.stop()
    path.write_text(yaml.safe_dump({"/**": {"ros__parameters": {"spec": "tabletop"}},
                                    "action_executor": {"ros__parameters": {"dry_rnu": True}}}))
    typo = NodeProcess("action_executor", ["--params-file", str(path)], ros_env(domain, False), node_logs)
    assert typo.proc.wait(timeout=30) == 2
    assert "unknown parameter(s) dry_rnu" in typo.log()
    typo.stop()


@pytest.mark.parametrize("graph_name", ["robot", "sim_robot"])
def test_rclpy_and_the_graph_check_agree_on_every_nodes_parameters(context, graph_name):
    """What `robot-rl up` validates is what the node gets: the same files in the same order plus --set
    overrides, through rclpy's own argument parsing. A shared `/**` file before a node's file made
    rclpy apply `-p` overrides before that file (checkpoint ignored): this is the check for it."""
    from pathlib import Path

    from robot_rl.ros_config import NODE_CONFIGS
    from robot_rl.ros_config.graph import apply_overrides, load_graph, node_command, resolve_params, validate_graph
    path = Path(__file__).resolve().parents[2] / "launch" / "graphs" / f"{graph_name}.yaml"
    graph = load_graph(path)
    sets = {f"{n.name}.{field}": value for n in graph.nodes for field, value in
            (("spec", "arm7_joint"), ("checkpoint", "/tmp/ckpt"), ("dry_run", False), ("fps", 15), ("port", 0))
            if field in NODE_CONFIGS[n.executable].model_fields}
    graph = apply_overrides(graph, sets)
    expected = validate_graph(graph, path.parent, NODE_CONFIGS)
    params = resolve_params(graph, path.parent)
    for n in graph.nodes:
        args = node_command(n, n.executable, params[n.name])[1:]  # --ros-args -r __node:=NAME --params-file ... -p ...
        node = Node(f"unused_{n.name}", context=context, cli_args=args, use_global_arguments=False)
        try:
            got = NodeParams(node, NODE_CONFIGS[n.executable], args=args).config
        finally:
            node.destroy_node()
        assert got == expected[n.name], n.name
        for key, value in sets.items():
            if key.startswith(f"{n.name}."):
                assert getattr(got, key.split(".", 1)[1]) == value, key  # every override reached the node
