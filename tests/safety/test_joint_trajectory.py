"""Known answers for joint-space commands: the action layout, joint limits, the trajectory planner,
the joint-state cache, and the executor config checks around them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from robot_rl.config import validate_config
from robot_rl.errors import ConfigError
from robot_rl.ros_config.executor import ExecutorConfig, check_command_spec, joint_command_setup
from robot_rl.safety import (JointLimits, JointStateCache, Reason, joint_action_layout, plan_joint_trajectory)
from robot_rl.spec import EmbodimentSpec, load_spec

DT = 0.1


def _spec(units: list[str], name: str = "arm3") -> EmbodimentSpec:
    action = [{"name": f"j{i}" if u != "normalized" else "gripper", "unit": u, "low": -0.2, "high": 0.2}
              for i, u in enumerate(units)]
    if units[-1] == "normalized":
        action[-1].update(low=-1.0, high=1.0)
    return EmbodimentSpec.from_dict({
        "name": name, "control_rate_hz": 10, "chunk_length": 4,
        "cameras": [{"name": "cam", "height": 8, "width": 8}],
        "proprio": [{"name": "q", "size": 3, "unit": "rad"}], "action": action})


SPEC = _spec(["rad", "rad", "rad", "normalized"])
LAYOUT = joint_action_layout(SPEC)
# Joint 3 tops out at 0.5 rad; steps of at most min(0.1 rad, 2 rad/s * dt).
BOUNDS = JointLimits(position_low=[-1.0, -1.0, -1.0], position_high=[1.0, 1.0, 0.5], max_step_rad=[0.1],
                     max_speed_rad_s=[2.0]).bounds(["j0", "j1", "j2"])
ZERO = np.zeros(3)


def _plan(current, actions, dt=DT):
    return plan_joint_trajectory(np.asarray(current, dtype=float), np.asarray(actions, dtype=float), LAYOUT, dt,
                                 BOUNDS, SPEC.action_low, SPEC.action_high)


# ---- layout -----------------------------------------------------------------------------------

def test_joint_space_layouts_and_the_builtin_arm():
    arm = joint_action_layout(load_spec("arm7_joint"))
    assert arm.joint_names == tuple(f"joint{i}" for i in range(1, 8)) and arm.gripper_dim == 7
    assert load_spec("arm7_joint").chunk_shape == (8, 8)
    assert LAYOUT.joint_names == ("j0", "j1", "j2") and LAYOUT.gripper_dim == 3
    no_gripper = joint_action_layout(_spec(["rad", "rad"]))
    assert no_gripper.n_joints == 2 and no_gripper.gripper_dim is None


def test_an_end_effector_spec_is_refused_with_the_ik_reason():
    with pytest.raises(ConfigError, match=r"command_type 'joint_trajectory'.*tabletop.*inverse kinematics \(IK\)"):
        joint_action_layout(load_spec("tabletop"))
    with pytest.raises(ConfigError, match="not joint space") as err:  # a prismatic 'm' joint: no IK hint
        joint_action_layout(_spec(["rad", "m"]))
    assert "IK" not in str(err.value)
    with pytest.raises(ConfigError, match="not joint space"):
        joint_action_layout(_spec(["normalized"]))


# ---- planner ----------------------------------------------------------------------------------

def test_small_steps_accumulate_from_the_measured_joints():
    plan = _plan([0.1, 0.2, 0.0], [[0.05, -0.02, 0.0, 0.5], [0.05, 0.0, 0.01, -1.0]])
    assert plan.ok and plan.clamps == []
    np.testing.assert_allclose(plan.positions, [[0.15, 0.18, 0.0], [0.2, 0.18, 0.01]])
    np.testing.assert_allclose(plan.time_from_start, [0.1, 0.2])
    assert plan.gripper == 0.5  # the due (first) action's gripper


def test_a_big_step_is_scaled_down_as_a_whole_to_the_tighter_of_step_and_speed():
    # 10 Hz: cap min(0.1, 2 * 0.1) = 0.1; joint 0 asks 0.2 -> every joint scaled by 0.5 (direction kept).
    plan = _plan(ZERO, [[0.2, 0.05, -0.1, 0.0]])
    assert plan.clamps == [Reason.CLAMP_JOINT_STEP]
    np.testing.assert_allclose(plan.positions, [[0.1, 0.025, -0.05]])
    # 50 Hz: the speed limit wins, cap 2 * 0.02 = 0.04 -> scale 0.2.
    plan = _plan(ZERO, [[0.2, 0.05, -0.1, 0.0]], dt=0.02)
    np.testing.assert_allclose(plan.positions, [[0.04, 0.01, -0.02]])
    np.testing.assert_allclose(plan.time_from_start, [0.02])
    # The spec's limits (+-0.2) clip first, then the step cap.
    plan = _plan(ZERO, [[0.5, 0.0, 0.0, 3.0]])
    assert plan.clamps == [Reason.CLAMP_SPEC_LIMITS, Reason.CLAMP_JOINT_STEP]
    np.testing.assert_allclose(plan.positions, [[0.1, 0.0, 0.0]])
    assert plan.gripper == 1.0


def test_points_are_clipped_into_the_position_limits_and_continue_from_the_clipped_point():
    plan = _plan([0.0, 0.0, 0.45], [[0.0, 0.0, 0.1, 0.0], [0.0, 0.0, 0.1, 0.0], [0.0, 0.0, -0.1, 0.0]])
    assert plan.clamps == [Reason.CLAMP_JOINT_LIMITS]
    np.testing.assert_allclose(plan.positions[:, 2], [0.5, 0.5, 0.4])
    np.testing.assert_allclose(plan.time_from_start, [0.1, 0.2, 0.3])


def test_outside_the_limits_or_nonfinite_is_refused():
    plan = _plan([0.0, 0.0, 0.6], [[0.0, 0.0, -0.1, 0.0]])
    assert plan.refused == Reason.OUTSIDE_JOINT_LIMITS and "j2" in plan.detail and plan.positions is None
    assert _plan(ZERO, [[0.0, math.nan, 0.0, 0.0]]).refused == Reason.NONFINITE
    assert _plan(ZERO, [[0.0, 0.0, 0.0, math.inf]]).refused == Reason.NONFINITE  # even in the gripper
    assert _plan([0.0, math.nan, 0.0], [[0.0, 0.0, 0.0, 0.0]]).refused == Reason.NONFINITE


def test_random_chunks_never_break_a_limit():
    rng = np.random.default_rng(0)
    caps = BOUNDS.step_caps(DT)
    for _ in range(200):
        current = rng.uniform(BOUNDS.low, BOUNDS.high)
        plan = _plan(current, rng.uniform(-1.0, 1.0, size=(8, 4)))
        assert plan.ok
        steps = np.diff(np.vstack([current, plan.positions]), axis=0)  # (8, 3)
        assert np.all(np.abs(steps) <= caps + 1e-12)
        assert np.all(plan.positions >= BOUNDS.low) and np.all(plan.positions <= BOUNDS.high)


# ---- limits and config ------------------------------------------------------------------------

def test_joint_limits_validate_and_broadcast():
    bounds = JointLimits(position_low=[-1, -2], position_high=[1, 2], max_step_rad=[0.1, 0.2],
                         max_speed_rad_s=[1.0]).bounds(["a", "b"])
    np.testing.assert_allclose(bounds.max_speed, [1.0, 1.0])
    np.testing.assert_allclose(bounds.step_caps(0.15), [0.1, 0.15])
    for bad, match in (({"position_low": [0.0], "position_high": [1.0, 2.0]}, "one of each per joint"),
                       ({"position_low": [1.0], "position_high": [0.0]}, "below position_high"),
                       ({"max_step_rad": [-0.1]}, "positive"),
                       ({"max_speed_rad_s": [math.inf]}, "finite")):
        with pytest.raises(ConfigError, match=match):
            validate_config(JointLimits, bad)
    with pytest.raises(ConfigError, match=r"joint_limits.position_low/position_high: 1 values for 2 joints"):
        JointLimits(position_low=[0.0], position_high=[1.0]).bounds(["a", "b"])
    with pytest.raises(ConfigError, match=r"joint_limits.max_step_rad: 2 values for 3 joints"):
        JointLimits(position_low=[0.0] * 3, position_high=[1.0] * 3, max_step_rad=[0.1, 0.1]).bounds(["a", "b", "c"])


def _joint_cfg(**kw) -> ExecutorConfig:
    return validate_config(ExecutorConfig, {"spec": "arm7_joint", "command_type": "joint_trajectory",
                                            "joint_limits": {"position_low": [-1.0] * 7, "position_high": [1.0] * 7},
                                            **kw})


def test_executor_config_checks_the_command_type_against_the_spec():
    arm = load_spec("arm7_joint")
    setup = check_command_spec(_joint_cfg(), arm)
    assert setup.joint_names == tuple(f"joint{i}" for i in range(1, 8)) and setup.bounds.low.shape == (7,)
    names = [f"fr3_joint{i}" for i in range(1, 8)]
    assert joint_command_setup(_joint_cfg(joint_names=names), arm).joint_names == tuple(names)
    with pytest.raises(ConfigError, match=r"joint_names: 2 names"):
        joint_command_setup(_joint_cfg(joint_names=["a", "b"]), arm)
    with pytest.raises(ConfigError, match="joint_names"):
        _joint_cfg(joint_names=["a", "a"])
    with pytest.raises(ConfigError, match="joint_limits.position_low"):  # limits are required
        check_command_spec(validate_config(ExecutorConfig, {"command_type": "joint_trajectory"}), arm)
    with pytest.raises(ConfigError, match="inverse kinematics"):
        check_command_spec(_joint_cfg(), load_spec("tabletop"))
    with pytest.raises(ConfigError, match="joint-space specs need command_type joint_trajectory"):
        check_command_spec(validate_config(ExecutorConfig, {"command_type": "pose"}), arm)
    assert check_command_spec(validate_config(ExecutorConfig, {"command_type": "twist"}), load_spec("tabletop")) is None
    with pytest.raises(ConfigError, match="joint_states_topic"):
        _joint_cfg(joint_states_topic="/x", joint_trajectory_topic="/x")


# ---- joint states -----------------------------------------------------------------------------

def test_joint_state_cache_merges_subsets_and_ages_by_the_oldest_joint():
    cache = JointStateCache(["a", "b"])
    assert cache.positions(0.0, 0.25)[1] == Reason.NO_JOINT_STATE
    assert cache.update(["a", "other"], [0.1, 9.0], stamp_s=1.0) is None
    q, reason, detail = cache.positions(1.0, 0.25)
    assert q is None and reason == Reason.NO_JOINT_STATE and "b" in detail
    assert cache.update(["b"], [0.2], stamp_s=1.2) is None
    q, reason, _ = cache.positions(1.2, 0.25)
    np.testing.assert_allclose(q, [0.1, 0.2])
    q, reason, detail = cache.positions(1.3, 0.25)  # joint a is 0.3 s old
    assert q is None and reason == Reason.STALE_JOINT_STATE and "0.300" in detail
    assert "2 names but 1 positions" in cache.update(["a", "b"], [0.0], stamp_s=1.3)
    assert "NaN/inf" in cache.update(["a", "b"], [math.nan, 0.5], stamp_s=1.3)
    assert cache.update(["a", "b"], [], stamp_s=1.3) is None  # velocity-only message: nothing taken
    np.testing.assert_allclose(cache.positions(1.2, 1.0)[0], [0.1, 0.2])  # rejected messages changed nothing


def test_the_commented_joint_example_in_executor_yaml_validates(tmp_path):
    """launch/config/executor.yaml shows the joint_trajectory setup commented out: uncommented, it must work."""
    from pathlib import Path

    from robot_rl.ros_config import load_node_params

    text = (Path(__file__).resolve().parents[2] / "launch" / "config" / "executor.yaml").read_text()
    head, marker, tail = text.partition("# For a joint-space spec set")
    assert marker, "the joint_trajectory example is gone from executor.yaml"
    lines = tail.splitlines()[1:]
    example = []
    for line in lines:
        if not line.startswith("    # "):
            break
        example.append("    " + line[len("    # "):])
    rest = "\n".join(lines[len(example):])
    # The example replaces the file's own keys of the same name (the config loader refuses repeated keys).
    keys = {line.split(":")[0].strip() for line in example if not line.startswith("      ")}
    head = "\n".join(line for line in head.splitlines() if line.split(":")[0].strip() not in keys) + "\n"
    (tmp_path / "executor.yaml").write_text(head + "\n".join(example) + "\n" + rest)
    cfg = load_node_params(tmp_path / "executor.yaml", "action_executor", ExecutorConfig)
    assert (cfg.spec, cfg.command_type) == ("arm7_joint", "joint_trajectory")
    setup = check_command_spec(cfg, load_spec(cfg.spec))
    assert setup.joint_names[0] == "fr3_joint1" and setup.bounds.high[3] == pytest.approx(-0.0698)
