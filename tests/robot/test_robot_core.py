"""The pure robot-side logic the ROS nodes call: proprio mapping, commands -> actions, freshness,
episode events, episode bookkeeping into a real rollout buffer, and node graphs for `robot-rl up`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from robot_rl.buffer import RolloutBuffer, verify
from robot_rl.errors import ConfigError
from robot_rl.robot.commands import check_commandable, hold_action, pose_target_to_action, twist_to_action
from robot_rl.robot.episodes import EpisodeBook, EventRejected
from robot_rl.robot.observation import ObservationInputs, check_image
from robot_rl.robot.proprio import ProprioMap, RobotState, default_proprio_sources
from robot_rl.ros_config import NODE_CONFIGS
from robot_rl.wire.episode_event import EpisodeAck, EpisodeEvent, parse_episode_ack, parse_episode_event
from robot_rl.ros_config.graph import GraphConfig, apply_overrides, node_command, validate_graph
from robot_rl.rotations import quat_from_rotvec
from robot_rl.spec import EmbodimentSpec, load_spec

ROOT = Path(__file__).resolve().parents[2]
TABLETOP_SOURCES = ["eef_pos=ee_position", "eef_axis_angle=ee_axis_angle", "gripper=joints:gripper"]


@pytest.fixture(scope="module")
def spec() -> EmbodimentSpec:
    return load_spec("tabletop")


@pytest.fixture(scope="module")
def small_spec(spec) -> EmbodimentSpec:
    data = spec.to_dict()
    data["cameras"] = [{"name": "agentview", "height": 8, "width": 8}, {"name": "wrist", "height": 8, "width": 8}]
    return EmbodimentSpec.from_dict(data)


# ---- proprio ------------------------------------------------------------------------------------

def test_proprio_known_answer_and_round_trip(spec):
    pmap = ProprioMap(spec, list(reversed(TABLETOP_SOURCES)))  # order does not matter: spec order wins
    q = quat_from_rotvec(np.array([0.0, 0.0, np.pi / 2]))  # 90 degrees about z
    state = RobotState(np.array([0.1, -0.2, 0.3]), q, {"gripper": -0.5, "other": 9.0})
    proprio = pmap.from_robot(state)
    np.testing.assert_allclose(proprio, [0.1, -0.2, 0.3, 0, 0, np.pi / 2, -0.5], atol=1e-6)
    back = pmap.to_robot(proprio)
    np.testing.assert_allclose(back.position, state.position, atol=1e-6)
    np.testing.assert_allclose(back.quaternion, q, atol=1e-6)
    assert back.joints == {"gripper": pytest.approx(-0.5)}
    assert default_proprio_sources(spec) == TABLETOP_SOURCES


def test_proprio_map_names_every_mistake(spec):
    with pytest.raises(ConfigError, match="missing: \\['gripper'\\]"):
        ProprioMap(spec, TABLETOP_SOURCES[:2])
    with pytest.raises(ConfigError, match="size 1 .* gives 2"):
        ProprioMap(spec, TABLETOP_SOURCES[:2] + ["gripper=joints:a,b"])
    with pytest.raises(ConfigError, match="unknown source 'ee_velocity'"):
        ProprioMap(spec, ["eef_pos=ee_velocity", *TABLETOP_SOURCES[1:]])
    with pytest.raises(KeyError, match="no joint gripper"):
        ProprioMap(spec, TABLETOP_SOURCES).from_robot(RobotState(np.zeros(3), np.array([0, 0, 0, 1.0]), {}))


@pytest.mark.parametrize("source, driver, expected", [
    ("joints:panda_finger_joint1 from 0..0.04 to -1..1", {"panda_finger_joint1": 0.04}, 1.0),  # Franka: open
    ("joints:panda_finger_joint1 from 0..0.04 to -1..1", {"panda_finger_joint1": 0.0}, -1.0),
    ("joints:finger_joint from 0..0.8 to 1..-1", {"finger_joint": 0.8}, -1.0),  # Robotiq 2F-85: closed
    ("joints:finger_joint from 0..0.8 to 1..-1", {"finger_joint": 0.2}, 0.5),
])
def test_gripper_units_map_onto_the_spec_range_and_back(spec, source, driver, expected):
    pmap = ProprioMap(spec, [*TABLETOP_SOURCES[:2], f"gripper={source}"])
    state = RobotState(np.zeros(3), np.array([0, 0, 0, 1.0]), driver)
    assert pmap.from_robot(state)[6] == pytest.approx(expected)
    assert pmap.to_robot(pmap.from_robot(state)).joints == pytest.approx(driver)


@pytest.mark.parametrize("bad", ["joints:f from 0..0.04", "joints:f from 0..0 to -1..1", "joints:f from a..b to -1..1",
                                 "joints:f from 0..0.04 to -1"])
def test_bad_gripper_maps_are_refused_with_the_syntax(spec, bad):
    with pytest.raises(ConfigError, match="from LOW..HIGH to LOW..HIGH"):
        ProprioMap(spec, [*TABLETOP_SOURCES[:2], f"gripper={bad}"])


# ---- commands -----------------------------------------------------------------------------------

def test_pose_target_becomes_the_delta_towards_it(spec):
    q0 = quat_from_rotvec(np.array([0.0, 0.0, 0.3]))
    target_q = quat_from_rotvec(np.array([0.0, 0.0, 0.5]))
    action = pose_target_to_action(spec, np.array([0.1, 0.0, 0.2]), q0, np.array([0.12, -0.01, 0.2]), target_q, -1.0)
    np.testing.assert_allclose(action, [0.02, -0.01, 0.0, 0.0, 0.0, 0.2, -1.0], atol=1e-6)
    far = pose_target_to_action(spec, np.zeros(3), q0, np.array([1.0, 0, 0]), q0, 1.0)
    assert far[0] == pytest.approx(0.05)  # clipped to the spec's dx limit


def test_twist_and_hold(spec):
    a = twist_to_action(spec, np.array([0.1, 0, 0]), np.array([0, 0, -1.0]), 0.1, 0.5)
    np.testing.assert_allclose(a, [0.01, 0, 0, 0, 0, -0.1, 0.5], atol=1e-6)
    np.testing.assert_allclose(hold_action(spec, 1.0), [0, 0, 0, 0, 0, 0, 1.0])
    point = EmbodimentSpec.from_dict({**spec.to_dict(), "action": [
        {"name": "dx", "unit": "m", "low": -0.1, "high": 0.1}, {"name": "dy", "unit": "m", "low": -0.1, "high": 0.1}]})
    np.testing.assert_allclose(twist_to_action(point, np.array([0.3, -0.2, 5.0]), np.zeros(3), 0.1, 0.0), [0.03, -0.02])
    bad = EmbodimentSpec.from_dict({**spec.to_dict(), "action": [{"name": "j1", "unit": "rad", "low": -1, "high": 1}]})
    with pytest.raises(ConfigError, match="j1"):
        check_commandable(bad)


# ---- observation freshness -----------------------------------------------------------------------

def test_acts_only_when_every_input_is_fresh(small_spec):
    inputs = ObservationInputs(small_spec, ProprioMap(small_spec, TABLETOP_SOURCES), max_age_s=0.3)
    keys = {p.key for p in inputs.problems(10.0)}
    assert keys == {"missing_image_agentview", "missing_image_wrist", "missing_ee_pose", "missing_joint_states",
                    "no_instruction"}
    img = np.zeros((8, 8, 3), np.uint8)
    inputs.set_image("agentview", img, 9.9)
    inputs.set_image("wrist", img + 1, 9.5)  # 0.5 s old
    inputs.set_ee_pose(np.array([0.1, 0.2, 0.3]), np.array([0, 0, 0, 1.0]), 9.95)
    inputs.set_joints(["gripper"], [0.25], 9.95)
    # In an episode its start event's instruction is enough: nothing needs /robot_rl/instruction.
    assert [p.key for p in inputs.problems(10.0, "pick up the red cube")] == ["stale_image_wrist"]
    inputs.instruction = "pick up the red cube"
    problems = inputs.problems(10.0)
    assert [p.key for p in problems] == ["stale_image_wrist"] and "0.500 s old" in problems[0].detail
    inputs.set_image("wrist", img + 1, 9.8)
    assert inputs.problems(10.0) == []
    batch, t_capture = inputs.assemble()
    assert t_capture == 9.8  # the oldest input
    assert batch["images"]["wrist"].shape == (1, 8, 8, 3) and batch["images"]["wrist"][0, 0, 0, 0] == 1
    np.testing.assert_allclose(batch["proprio"], [[0.1, 0.2, 0.3, 0, 0, 0, 0.25]], atol=1e-6)
    inputs.not_before = 9.9  # an episode started at 9.9: older inputs show the old scene
    assert {p.key for p in inputs.problems(10.0)} == {"old_image_wrist"}
    inputs.set_image("wrist", img, 10.5)  # 0.5 s in the future: a clock problem
    assert {p.key for p in inputs.problems(10.0)} == {"future_image_wrist"}
    with pytest.raises(ValueError, match="names but"):
        inputs.set_joints(["a", "b"], [1.0], 10.0)


def test_images_are_checked_and_optionally_resized(small_spec):
    with pytest.raises(ValueError, match="wants 8x8"):
        check_image(small_spec, "wrist", np.zeros((16, 8, 3), np.uint8), resize=False)
    with pytest.raises(ValueError, match="RGB uint8"):
        check_image(small_spec, "wrist", np.zeros((8, 8), np.uint16), resize=True)
    wide = np.zeros((12, 16, 3), np.uint8)
    wide[:, 2:14] = 200  # the centred 12x12 square: what the crop keeps
    np.testing.assert_array_equal(check_image(small_spec, "wrist", wide, resize=True), np.full((8, 8, 3), 200, np.uint8))
    with pytest.raises(ValueError, match="smaller than"):
        check_image(small_spec, "wrist", np.zeros((6, 16, 3), np.uint8), resize=True)  # 6x6 after the crop


# ---- episode events -----------------------------------------------------------------------------

def test_event_schema_round_trip_and_rejections():
    ev = EpisodeEvent(event="start", episode_id="g1-1", context_id="pick_red/3", group_id="g1")
    assert parse_episode_event(ev.to_json()) == ev and ev.task_name == "pick_red"
    assert json.loads(ev.to_json()) == {"event": "start", "episode_id": "g1-1", "context_id": "pick_red/3", "group_id": "g1"}
    for text, match in [("not json", "not JSON"), ('{"event": "start", "episode_id": "a"}', "needs a context_id"),
                        ('{"event": "explode", "episode_id": "a"}', "event"),
                        ('{"event": "success", "episode_id": "a", "reward": 1}', "unknown key"),
                        ('{"event": "success", "episode_id": "a", "label_source": "robot"}', "label_source"),
                        ('{"event": "start", "episode_id": "a", "context_id": "pick"}', "task/123"),
                        ('{"event": "abort", "episode_id": "a", "timeout": true}', "timeout"), ("[1, 2]", "mapping")]:
        with pytest.raises(ConfigError, match=match):
            parse_episode_event(text)


def _add(book: EpisodeBook, spec: EmbodimentSpec, n: int, executed: int = 8) -> None:
    h, a = spec.chunk_shape
    for i in range(n):
        book.add_step(images={c.name: np.full(c.shape, i, np.uint8) for c in spec.cameras},
                      proprio=np.zeros(spec.proprio_dim, np.float32), action=np.full((h, a), 0.01 * i, np.float32),
                      log_prob=np.full((h, a), -1.0, np.float32), tokens=None,
                      raw_action=np.zeros((h, a), np.float32), t_capture=float(i), t_decision=i + 0.05,
                      executed=executed)


def test_episode_book_commits_like_simulation_rollouts(tmp_path, small_spec):
    buf = RolloutBuffer.create(tmp_path / "buf", small_spec)
    book = EpisodeBook(buf)
    start = lambda eid, ctx="pick_red/3", g="g1": EpisodeEvent(event="start", episode_id=eid, context_id=ctx, group_id=g)
    end = lambda kind, eid, **kw: EpisodeEvent(event=kind, episode_id=eid, **kw)

    book.on_event(start("e1"), "pick up the red cube", policy_version=4)
    _add(book, small_spec, 3)
    with pytest.raises(EventRejected, match="'e1' is running"):
        book.on_event(end("success", "e0"), "", 4)  # a late event for another episode
    closed = book.on_event(end("success", "e1", label_source="sim"), "", 4)
    assert (closed.index, closed.status, closed.reward, closed.steps) == (0, "ok", 1, 3)

    book.on_event(start("e2"), "pick up the red cube", policy_version=5, temperature=0.7)
    _add(book, small_spec, 2)
    closed = book.on_event(end("failure", "e2", label_source="sim", timeout=True, stamp=2.5), "", 5)
    assert closed.t_label == 2.5
    book.on_event(start("e3", g="g2"), "x", 5, 1.3)
    _add(book, small_spec, 1)
    superseded = book.on_event(start("e4", g="g2"), "x", 5)  # a new start aborts the running one
    assert superseded.status == "aborted" and superseded.index == 2
    empty = book.on_event(end("estop", "e4"), "", 5)  # no steps: nothing to commit
    assert (empty.index, empty.status) == (-1, "estop")
    with pytest.raises(EventRejected, match="no episode is running"):
        book.on_event(end("abort", "e4"), "", 5)
    with pytest.raises(EventRejected, match="no instruction"):
        book.on_event(start("e5"), "", 5)

    assert verify(buf.path) == []
    t = buf.episodes
    assert list(t["status"]) == ["ok", "timeout", "aborted"] and list(t["reward"]) == [1, 0, 0]
    assert list(t["policy_version"]) == [4, 5, 5] and list(t["label_source"]) == ["sim", "sim", "operator"]
    assert list(t["context_id"]) == ["pick_red/3"] * 3 and list(t["init_id"]) == [3, 3, 3]
    assert list(t["env_steps"]) == [24, 16, 8] and t["instruction"][0] == "pick up the red cube"
    # The end event's stamp is the label time; no stamp (e1) or no label (e3, closed by a start) is NaN.
    np.testing.assert_array_equal(t["t_label"], [np.nan, 2.5, np.nan])
    # The temperature given at the start is the episode's (what the node samples it at); none given: NaN.
    np.testing.assert_array_equal(t["temperature"], [np.nan, 0.7, 1.3])
    assert [g.episode_ids for g in buf.complete_groups(2)] == [[0, 1]]  # the aborted one is not usable
    np.testing.assert_allclose(buf.read_episode(0)["action"][2], 0.02)


def test_every_start_is_answered_recording_acting_or_refused_with_the_reason(tmp_path, small_spec):
    def start(eid: str, instruction: str = "pick up the red cube") -> EpisodeEvent:
        return EpisodeEvent(event="start", episode_id=eid, context_id="pick_red/3", instruction=instruction)

    def answer(book: EpisodeBook, event: EpisodeEvent, version: int) -> EpisodeAck:
        try:
            book.on_event(event, "", version)
        except EventRejected as err:
            return book.ack(event, str(err), 1.0)
        return book.ack(event, "", 1.0)

    book = EpisodeBook(RolloutBuffer.create(tmp_path / "buf", small_spec))
    ack = answer(book, start("e1"), 4)
    assert ack == EpisodeAck(episode_id="e1", status="recording", instruction="pick up the red cube",
                             policy_version=4, stamp=1.0) and ack.recording
    assert parse_episode_ack(ack.to_json()) == ack  # what goes on the wire round-trips
    assert answer(book, start("e1"), 4).status == "recording"  # a duplicate start: still the same recording
    assert book.has_started("e1") and not book.has_started("e9")
    ack = answer(book, start("e2"), -1)
    assert ack.status == "refused" and "no policy loaded" in ack.reason and book.active is None
    assert book.has_started("e1")  # closed (aborted by e2's start) and still known: a repeat reopens nothing
    ack = answer(book, start("e3", instruction=""), 4)  # never the latched topic's (possibly stale) text
    assert ack.status == "refused" and "carries no instruction" in ack.reason and book.active is None
    ack = answer(EpisodeBook(None), start("e4"), 4)
    assert (ack.status, ack.recording) == ("acting", False) and "buffer_path" in ack.reason
    for text, match in [('{"episode_id": "e", "status": "refused"}', "needs a reason"),
                        ('{"episode_id": "e", "status": "maybe"}', "status")]:
        with pytest.raises(ConfigError, match=match):
            parse_episode_ack(text)


# ---- node graphs (robot-rl up) ------------------------------------------------------------------

def test_shipped_graphs_validate_and_overrides_are_checked():
    from robot_rl.up_cli import find_graph
    from robot_rl.ros_config.graph import load_graph
    for name in ("sim_robot", "robot"):
        path = find_graph(name)
        validate_graph(load_graph(path), path.parent, NODE_CONFIGS)
    path = find_graph("sim_robot")
    graph = apply_overrides(load_graph(path), {"policy_node.max_input_age_s": 0.2})
    assert validate_graph(graph, path.parent, NODE_CONFIGS)["policy_node"].max_input_age_s == 0.2
    with pytest.raises(ConfigError, match="policy_node.*max_input_age_s"):
        validate_graph(apply_overrides(graph, {"policy_node.max_input_age_s": -1}), path.parent, NODE_CONFIGS)
    with pytest.raises(ConfigError, match="NODE one of"):
        apply_overrides(graph, {"nobody.x": 1})


def test_node_command_line():
    g = GraphConfig.model_validate({"nodes": [{"executable": "policy_node", "name": "p", "params": ["a.yaml"],
                                               "overrides": {"checkpoint": "/c", "temperature": 0.5, "act_outside_episodes": True,
                                                             "buffer_path": "", "spec": "1",
                                                             "suite_options": '{"spec": "tabletop_64"}',
                                                             "operator": "it's me"}}]})
    cmd = node_command(g.nodes[0], "/bin/policy_node", [Path("/x/a.yaml")])
    assert cmd == ["/bin/policy_node", "--ros-args", "-r", "__node:=p", "--params-file", "/x/a.yaml",
                   "-p", "checkpoint:=/c", "-p", "temperature:=0.5", "-p", "act_outside_episodes:=true",
                   "-p", "buffer_path:=''", "-p", "spec:='1'",
                   "-p", """suite_options:='{"spec": "tabletop_64"}'""", "-p", "operator:=it's me"]


def test_up_cli_check_and_help():
    run = lambda *a: subprocess.run([sys.executable, "-m", "robot_rl.cli", "up", *a], capture_output=True, text=True, cwd=ROOT)
    ok = run("sim_robot", "--check")
    assert ok.returncode == 0 and "3 nodes, parameters valid" in ok.stdout
    bad = run("sim_robot", "--check", "--set", "sim_robot.camera_rate_hz=-3")
    assert bad.returncode == 2 and "camera_rate_hz" in bad.stderr
    assert "SIGKILL" in run("--help").stdout
