"""PolicyCore without ROS: when it decides, why it does not act, what it publishes and records.

A real tiny policy (saved and loaded through robot_rl.robot.runner) and a real rollout buffer on disk;
the node's publisher is a list. Tabletop spec with one 48x64 camera: 10 Hz, chunks (8, 7).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from robot_rl.buffer import RolloutBuffer, verify
from robot_rl.config import validate_config
from robot_rl.nodes.policy import PolicyCore, open_buffer
from robot_rl.policies import make_policy, save_policy
from robot_rl.robot.runner import load_policy_runner
from robot_rl.ros_config.policy import PolicyNodeConfig
from robot_rl.spec import EmbodimentSpec, load_spec
from robot_rl.wire.episode_event import EpisodeEvent

TINY = {"d_model": 32, "n_layers": 1, "n_heads": 2, "cnn_channels": [8, 8, 16], "image_grid": 2,
        "head": {"kind": "gaussian"}}
T0 = 50.0
FRAME = np.full((48, 64, 3), 128, dtype=np.uint8)


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> tuple[Path, EmbodimentSpec]:
    tmp = tmp_path_factory.mktemp("policy_core")
    data = load_spec("tabletop").to_dict()
    data["cameras"] = [{"name": "wrist", "height": 48, "width": 64}]
    spec = EmbodimentSpec.from_dict(data)
    spec.to_yaml(tmp / "spec.yaml")
    torch.manual_seed(0)
    save_policy(make_policy("tiny", spec, TINY), tmp / "ckpt")
    newer = make_policy("tiny", spec, TINY)
    newer.version = 7
    save_policy(newer, tmp / "ckpt_v7")
    return tmp, spec


class Published(list):
    """The node's chunk publisher: keeps (chunk, t_capture); the chunk goes out 10 ms after capture."""

    def __call__(self, chunk: np.ndarray, t_capture: float) -> float:
        self.append((chunk, t_capture))
        return t_capture + 0.01


def _core(setup, runner: bool = True, buffer: RolloutBuffer | None = None, **overrides) -> tuple[PolicyCore, Published]:
    tmp, spec = setup
    cfg = validate_config(PolicyNodeConfig, {"spec": str(tmp / "spec.yaml"), "act_on": "tick", "device": "cpu",
                                             "checkpoint": str(tmp / "ckpt") if runner else "", **overrides})
    published = Published()
    loaded = load_policy_runner(cfg.checkpoint, spec, "cpu") if runner else None
    return PolicyCore(cfg, spec, loaded, buffer, published), published


def _inputs(core: PolicyCore, t: float) -> None:
    """A frame, the pose and the gripper joint, all captured at ``t`` and arriving at ``t``."""
    core.on_image("wrist", FRAME, t, t)
    core.on_pose(np.array([0.5, 0.0, 0.3]), np.array([0.0, 0.0, 0.0, 1.0]), t, t)
    core.on_joints(["gripper"], np.array([0.5]), t, t)


def _tick(core: PolicyCore, now: float):
    assert core.timer(now)  # tick half
    out = core.tick(now)
    assert not core.timer(now + 0.05)  # the deadline half
    return out, core.deadline(now + 0.05)


def _start(eid: str, t: float) -> str:
    return EpisodeEvent(event="start", episode_id=eid, context_id="pick/2", group_id="g", instruction="pick it",
                        stamp=t).to_json()


def test_without_a_policy_nothing_is_published_and_diagnostics_say_why(setup):
    core, published = _core(setup, runner=False, act_outside_episodes=True)
    _inputs(core, T0)
    out, _ = _tick(core, T0)
    assert published == [] and core.stats["decisions_missed"] == 1 and core.version == -1
    assert [n.text for n in out.notes] == ["not acting (no_policy): no policy loaded (set checkpoint, call "
                                           "/robot_rl/reload_policy)"]
    status = core.diagnostics()
    assert (status.level, status.message) == ("error", "no policy loaded")


def test_outside_an_episode_it_waits_for_a_start(setup):
    core, published = _core(setup)
    _inputs(core, T0)
    out, _ = _tick(core, T0)
    assert published == [] and [n.text for n in out.notes][0].startswith("not acting (no_episode)")


def test_fresh_inputs_publish_a_chunk_stamped_with_the_oldest_capture(setup):
    core, published = _core(setup, act_outside_episodes=True)
    core.on_instruction("  pick it  ")
    core.on_image("wrist", FRAME, T0 - 0.05, T0)
    core.on_pose(np.array([0.5, 0.0, 0.3]), np.array([0.0, 0.0, 0.0, 1.0]), T0 - 0.02, T0)
    core.on_joints(["gripper"], np.array([0.5]), 0.0, T0)  # unstamped: taken at arrival
    _tick(core, T0)
    assert len(published) == 1
    chunk, t_capture = published[0]
    assert chunk.shape == (8, 7) and chunk.dtype == np.float32 and np.isfinite(chunk).all()
    assert t_capture == pytest.approx(T0 - 0.05)  # the image is the oldest input
    assert core.stats["chunks_published"] == 1 and list(core.latencies) == [pytest.approx(0.01)]
    assert core.inputs.instruction == "pick it" and core.diagnostics().level == "ok"


def test_stale_inputs_are_reported_once_per_decision_and_all_counted(setup):
    core, published = _core(setup, act_outside_episodes=True, max_input_age_s=0.3)
    core.on_instruction("pick it")
    _inputs(core, T0)
    out, _ = _tick(core, T0 + 0.5)
    assert published == [] and core.stats["decisions_missed"] == 1
    assert out.notes[0].text.startswith("not acting (stale_image_wrist): image_wrist is 0.500 s old")
    counts = core.log.counts
    assert counts["not_acting.stale_image_wrist"] == counts["not_acting.stale_ee_pose"] == 1
    status = core.diagnostics()
    assert status.level == "warn" and status.message.startswith("not acting: image_wrist is 0.500 s old")


def test_bad_messages_are_rejected_and_counted(setup):
    core, _ = _core(setup)
    core.on_image("wrist", np.zeros((48, 64), dtype=np.uint8), T0, T0)
    core.on_image("wrist", FRAME, 0.0, T0)
    core.on_joints(["a", "b"], np.array([0.1]), T0, T0)
    core.on_pose(np.array([np.nan, 0, 0]), np.array([0, 0, 0, 1.0]), T0, T0)
    out = core.on_event("{not an event", T0)
    assert core.stats["rejected_messages"] == 5 and out.ack is None
    assert {k for k in core.log.counts} == {"rejected.bad_image", "rejected.unstamped_image",
                                            "rejected.bad_joint_state", "rejected.bad_pose", "rejected.bad_event"}


def test_an_episode_is_acknowledged_recorded_every_replan_and_committed(setup, tmp_path):
    buffer = open_buffer(str(tmp_path / "buf"), setup[1])
    core, published = _core(setup, buffer=buffer, replan_every=2)
    out = core.on_event(_start("e1", T0), T0)
    assert (out.ack.status, out.ack.policy_version, out.ack.instruction) == ("recording", 0, "pick it")
    _inputs(core, T0 - 0.01)  # captured before the start: the old scene
    out, _ = _tick(core, T0)
    assert published == [] and out.notes[0].text.startswith("not acting (old_image_wrist)")
    for k in range(1, 5):  # ticks 1..4: decisions at ticks 1 and 3 (every 2nd once the episode has a step)
        _inputs(core, T0 + 0.1 * k)
        _tick(core, T0 + 0.1 * k)
    assert len(published) == 2 and core.book.active.steps == 2 and core.stats["steps_recorded"] == 2
    end = EpisodeEvent(event="success", episode_id="e1", label_source="operator", stamp=T0 + 1).to_json()
    out = core.on_event(end, T0 + 1)
    assert [n.text for n in out.notes] == ["episode 'e1' closed: ok, reward 1, 2 steps, buffer episode 0"]
    core.shutdown()
    assert verify(buffer.path) == []
    reopened = RolloutBuffer.open(buffer.path)
    t = reopened.episodes
    assert list(t["reward"]) == [1] and list(t["env_steps"]) == [4] and list(t["policy_version"]) == [0]
    np.testing.assert_allclose(reopened.read_episode(0)["action"][0], published[0][0])


def test_whole_chunks_observe_one_tick_after_the_chunk_and_receding_horizons_at_their_replan(setup):
    """Whole chunks (replan_every 0): the executor starts a chunk at its arrival, up to a period after it went
    out, so the next observation waits one tick more than the chunk is long; replan_every < H keeps its count."""
    for replan_every, decisions_at in ((0, [1, 10]), (4, [1, 5, 9])):
        core, published = _core(setup, replan_every=replan_every)
        core.on_event(_start("e1", T0), T0)
        ticks = []
        for k in range(1, 11):
            _inputs(core, T0 + 0.1 * k)
            before = len(published)
            _tick(core, T0 + 0.1 * k)
            if len(published) > before:
                ticks.append(k)
        assert ticks == decisions_at, (replan_every, ticks)
        core.shutdown()


def test_a_repeated_start_is_answered_again_and_never_restarts_or_reopens(setup):
    core, published = _core(setup, act_outside_episodes=True)
    first = core.on_event(_start("e1", T0), T0).ack
    _inputs(core, T0 + 0.1)
    _tick(core, T0 + 0.1)
    again = core.on_event(_start("e1", T0), T0 + 0.2)
    assert (again.ack.status, again.ack.episode_id) == (first.status, "e1") and core.book.active.steps == 1
    core.on_event(EpisodeEvent(event="abort", episode_id="e1").to_json(), T0 + 0.3)
    late = core.on_event(_start("e1", T0), T0 + 0.4)
    assert late.ack is None and core.book.active is None and core.stats["starts_repeated"] == 2


def test_start_without_a_policy_is_refused_with_the_reason(setup):
    core, _ = _core(setup, runner=False)
    out = core.on_event(_start("e1", T0), T0)
    assert out.ack.status == "refused" and "no policy loaded" in out.ack.reason
    assert core.book.active is None and core.stats["starts_refused"] == 1


def test_a_policy_loaded_during_an_episode_takes_over_at_the_next_start(setup):
    tmp, spec = setup
    core, _ = _core(setup)
    core.on_event(_start("e1", T0), T0)
    deferred, out = core.offer_runner(load_policy_runner(tmp / "ckpt_v7", spec, "cpu"))
    assert deferred and out.version is None and core.version == 0
    out = core.on_event(_start("e2", T0 + 1), T0 + 1)  # closes e1 (aborted), then v7 samples e2
    assert out.version == 7 and out.ack.policy_version == 7 and core.stats["reloads"] == 1
    assert "episode 'e1' closed: aborted" in out.notes[0].text
    idle_core, _ = _core(setup)
    deferred, out = idle_core.offer_runner(load_policy_runner(tmp / "ckpt_v7", spec, "cpu"))
    assert not deferred and out.version == 7  # no episode running: at once


def test_act_on_frame_decides_on_the_first_frame_after_the_tick_or_at_the_deadline(setup):
    core, published = _core(setup, act_outside_episodes=True, act_on="frame")
    core.on_instruction("pick it")
    _inputs(core, T0 - 0.01)
    assert core.timer(T0)
    core.tick(T0)
    assert published == []  # due, waiting for a frame newer than the tick
    core.on_image("wrist", FRAME, T0 + 0.01, T0 + 0.02)
    assert len(published) == 1 and list(core.waits) == [pytest.approx(0.02)]
    assert not core.timer(T0 + 0.05)
    core.deadline(T0 + 0.05)  # nothing due any more
    assert core.timer(T0 + 0.1)
    core.tick(T0 + 0.1)  # replan_every 0 = the chunk length, but outside an episode every tick decides
    assert not core.timer(T0 + 0.15)
    out = core.deadline(T0 + 0.15)  # no frame came: decide with what there is (still fresh)
    assert len(published) == 2 and out.notes == []


def test_ticks_follow_time_whether_the_timer_fires_twice_a_period_or_once(setup):
    core, _ = _core(setup)
    # Wall time: a half-period timer, with jitter: tick, deadline, tick, ...
    calls = [T0, T0 + 0.052, T0 + 0.098, T0 + 0.151, T0 + 0.203, T0 + 0.249]
    assert [core.timer(t) for t in calls] == [True, False, True, False, True, False]
    # Sim time: /clock advances by whole periods and the half-period timer fires once per period: every call ticks.
    sim, _ = _core(setup)
    assert all(sim.timer(T0 + 0.1 * k) for k in range(10))
    # A timer a whole period late re-anchors on the late call instead of ticking twice in a burst.
    late, _ = _core(setup)
    assert late.timer(T0) and late.timer(T0 + 0.35) and not late.timer(T0 + 0.37) and late.timer(T0 + 0.45)
