"""End to end over real DDS: `robot-rl up sim_robot` starts sim_robot_node (MuJoCo tabletop) +
policy_node (tiny VLA) + action_executor (dry_run off) as separate processes; episodes run, commands
flow, the buffer fills with complete episodes that verify and batch like simulation rollouts, a NaN
chunk never becomes a command, and SIGTERM stops the whole graph."""

from __future__ import annotations

import signal
import subprocess
import time

import numpy as np
import pytest
import torch
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from std_msgs.msg import Header, Int64, String

from ros_harness import ROOT, Probe, executable, ros_env
from robot_rl.algorithms.loop import LoopConfig
from robot_rl.buffer import RolloutBuffer, verify
from robot_rl.policies import make_policy, save_policy
from robot_rl.wire import topics
from robot_rl.wire.episode_event import parse_episode_event
from robot_rl.spec import load_spec
from robot_rl.train.batch import EpisodeGroup, groups_to_batch
from ros_nodes import qos
from ros_nodes.messages import chunk_to_msgs

pytestmark = [pytest.mark.ros, pytest.mark.slow]

TINY = {"d_model": 32, "n_layers": 1, "n_heads": 2, "cnn_channels": [8, 8, 16], "image_grid": 2,
        "head": {"kind": "gaussian"}}


class Graph:
    def __init__(self, proc: subprocess.Popen, probe: Probe, buffer: str, out_path) -> None:
        self.proc, self.probe, self.buffer, self.out_path = proc, probe, buffer, out_path
        self.commands: list[np.ndarray] = []
        self.events: list = []
        self.versions: list[int] = []
        self.diag: dict[str, dict[str, str]] = {}
        n = probe.node
        n.create_subscription(PoseStamped, topics.COMMAND_POSE, self._on_command, qos.RELIABLE)
        n.create_subscription(String, topics.EPISODE_EVENT, lambda m: self.events.append(parse_episode_event(m.data)),
                              qos.RELIABLE)
        n.create_subscription(Int64, topics.POLICY_VERSION, lambda m: self.versions.append(m.data), qos.LATCHED)
        n.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, self._on_diag, qos.RELIABLE)

    def _on_command(self, msg: PoseStamped) -> None:
        p, q = msg.pose.position, msg.pose.orientation
        self.commands.append(np.array([p.x, p.y, p.z, q.x, q.y, q.z, q.w]))

    def _on_diag(self, msg: DiagnosticArray) -> None:
        for s in msg.status:
            self.diag[s.name.split(":")[0]] = {kv.key: kv.value for kv in s.values}

    def log(self) -> str:
        logs = sorted(self.out_path.parent.glob("logs/*.log"))
        return "\n".join(f"== {p.name}\n{p.read_text()[-3000:]}" for p in logs) + self.out_path.read_text()[-2000:]


@pytest.fixture(scope="module")
def graph(tmp_path_factory, domain_id):
    tmp = tmp_path_factory.mktemp("sim_graph")
    torch.manual_seed(0)
    save_policy(make_policy("tiny", load_spec("tabletop"), TINY), tmp / "ckpt")
    # Default transports (UDP discovery, shared-memory data): these images are small. With LARGE_DATA
    # (TCP data) a restarted node's streams or the policy heartbeat intermittently never matched
    # (CI run 9: the executor never heard the policy heartbeat).
    env = dict(ros_env(domain_id, large_data=False), MUJOCO_GL="egl", PYOPENGL_PLATFORM="egl", OMP_NUM_THREADS="1")
    out_path = tmp / "up.out"
    sets = [f"policy_node.checkpoint={tmp / 'ckpt'}", f"policy_node.buffer_path={tmp / 'rollouts.zarr'}",
            "policy_node.device=cpu", "sim_robot.max_steps=10", "sim_robot.group_size=2",
            "sim_robot.contexts=[pick_red/0, pick_blue/1]", "sim_robot.episode_gap_s=0.3"]
    with out_path.open("w") as out:
        proc = subprocess.Popen([executable("robot-rl"), "up", "sim_robot", "--domain-id", str(domain_id),
                                 "--log-dir", str(tmp / "logs"), "--shutdown-timeout", "10",
                                 *[x for s in sets for x in ("--set", s)]],
                                env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    probe = Probe(domain_id, large_data=False)
    g = Graph(proc, probe, str(tmp / "rollouts.zarr"), out_path)
    try:
        yield g
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        probe.close()


def test_episodes_run_and_land_in_the_buffer_like_sim_rollouts(graph):
    ends = lambda: [e for e in graph.events if e.event in ("success", "failure")]
    try:
        graph.probe.spin_until(lambda: len(ends()) >= 4, timeout=150, what="4 finished episodes from the sim robot")
        graph.probe.spin_for(1.0)  # the policy node commits on the event
    except AssertionError:
        raise AssertionError(graph.log()) from None
    assert graph.proc.poll() is None, graph.log()
    assert graph.versions and graph.versions[-1] == 0  # latched policy version
    assert len(graph.commands) > 10 and np.isfinite(np.stack(graph.commands)).all()
    # Episode events are not latched: on a quiet machine the graph can start its first episode before this
    # probe is matched (CI stop 11), so the observed starts follow the schedule from some point on.
    schedule = ["pick_red/0", "pick_red/0", "pick_blue/1", "pick_blue/1"] * 3
    seen = [e.context_id for e in graph.events if e.event == "start"][:4]
    assert len(seen) >= 3 and any(seen == schedule[o:o + len(seen)] for o in range(4)), seen

    assert verify(graph.buffer) == []
    buf = RolloutBuffer.open(graph.buffer)
    table = buf.episodes
    assert len(table) >= 4, graph.log()
    assert set(table["label_source"]) == {"sim"} and set(table["status"]) <= {"ok", "timeout"}
    assert list(table["context_id"][:4]) == ["pick_red/0", "pick_red/0", "pick_blue/1", "pick_blue/1"]
    assert table["instruction"][0] == "pick up the red cube"
    # The sim's end-event stamp (when it judged success / the step limit) is each episode's label time.
    labels, end_stamps = list(table["t_label"]), [e.stamp for e in ends()]
    first = labels.index(end_stamps[0])  # episodes that ended before the probe was matched come first
    k = min(len(end_stamps), len(labels) - first)
    assert k >= 3 and labels[first:first + k] == end_stamps[:k] and np.all(table["t_label"] > table["t_start"])
    steps = buf.read_episode(0)
    assert steps["action"].shape[1:] == (8, 7) and np.isfinite(steps["log_prob"]).all() and steps["log_prob"].std() > 0
    assert np.all(steps["t_decision"] > steps["t_capture"]) and np.all(steps["t_decision"] - steps["t_capture"] < 0.5)
    assert steps["images/agentview"].std() > 1.0  # real rendered frames, not fill values

    # The trainer's one path from stored rollouts to an update, as for simulation rollouts.
    groups = buf.complete_groups(2)
    assert len(groups) >= 2
    batch = groups_to_batch(buf, [EpisodeGroup.of(g.episode_ids, g.rewards) for g in groups],
                            LoopConfig(group_size=2))
    n = sum(int(table["step_count"][e]) for g in groups for e in g.episode_ids)
    assert batch.sample.action.shape == (n, 8, 7) and batch.obs["images"]["wrist"].shape == (n, 128, 128, 3)


def test_a_nan_chunk_never_becomes_a_command(graph):
    n = graph.probe.node
    chunk_pub = n.create_publisher(__import__("std_msgs.msg", fromlist=["Float32MultiArray"]).Float32MultiArray,
                                   topics.ACTION_CHUNK, qos.RELIABLE)
    stamp_pub = n.create_publisher(Header, topics.ACTION_CHUNK_STAMP, qos.RELIABLE)
    graph.probe.spin_for(2.0)  # discovery
    chunk = np.full((8, 7), np.nan, np.float32)
    msg, stamp = chunk_to_msgs(chunk, n.get_clock().now().to_msg())
    before = len(graph.commands)
    for _ in range(3):
        stamp_pub.publish(stamp)
        chunk_pub.publish(msg)
        graph.probe.spin_for(0.3)
    graph.probe.spin_until(lambda: int(graph.diag.get("action_executor", {}).get("refused.nonfinite", 0)) >= 1,
                           timeout=10, what="the executor counting the NaN chunk")
    assert np.isfinite(np.stack(graph.commands[before:] or [np.zeros(7)])).all()


def test_sigterm_stops_every_node(graph):
    t0 = time.monotonic()
    graph.proc.send_signal(signal.SIGTERM)
    assert graph.proc.wait(timeout=30) == 0, graph.log()
    assert time.monotonic() - t0 < 15
    out = graph.out_path.read_text()
    assert "stopped; exit codes" in out and "-9" not in out.split("exit codes")[-1], out
    assert verify(graph.buffer) == []  # the policy node closed its episode and the store cleanly
