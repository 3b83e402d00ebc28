"""The hardware LOOP planner and update (robot_rl.train.hw_loop) on a real zarr rollout buffer.

Episodes are written as the policy node writes them (a real RolloutBuffer, chunks sampled by a
real tiny policy, operator labels), no simulator involved.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from robot_rl.buffer import RolloutBuffer
from robot_rl.config import validate_config
from robot_rl.errors import ConfigError
from robot_rl.policies import load_policy, make_policy, save_policy
from robot_rl.wire.hw_schedule import parse_hw_schedule
from robot_rl.spec import load_spec
from robot_rl.train.batch import groups_to_batch
from robot_rl.train.hw_config import HwTrainConfig
from robot_rl.train.hw_loop import (
    draw_context, group_id, label_report, open_or_init_state, plan_cycle, skip_group, update_cycle,
)
from robot_rl.train.hw_state import load_state, save_state

TINY = {"d_model": 32, "n_layers": 1, "n_heads": 2, "cnn_channels": [8, 8, 16], "image_grid": 2,
        "head": {"kind": "gaussian"}}
CONTEXTS = ["pick_red/0", "pick_red/1", "pick_blue/0", "pick_blue/1", "pick_green/2"]
INSTRUCTIONS = {"pick_red": "pick up the red cube", "pick_blue": "pick up the blue cube",
                "pick_green": "pick up the green cube"}


class Robot:
    """Writes episodes into a real buffer the way policy_node does, with chunks sampled by the policy."""

    def __init__(self, tmp_path, version: int = 0) -> None:
        self.spec = load_spec("tabletop_64")
        torch.manual_seed(0)
        self.policy = make_policy("tiny", self.spec, TINY)
        self.policy.version = version
        save_policy(self.policy, tmp_path / "v0")
        self.buf = RolloutBuffer.create(tmp_path / "hw.zarr", self.spec)
        self.rng = np.random.default_rng(0)

    def episode(self, gid: str, context_id: str, reward: int, version: int = 0, status: str = "ok",
                steps: int = 2, temperature: float | None = 1.0, label_source: str = "operator",
                detector_p: float | None = None) -> int:
        ep = self.buf.begin_episode()
        task = context_id.split("/")[0]
        for j in range(steps):
            obs = {"images": {c.name: self.rng.integers(0, 256, (1, *c.shape), dtype=np.uint8)
                              for c in self.spec.cameras},
                   "proprio": self.rng.normal(size=(1, self.spec.proprio_dim)).astype(np.float32),
                   "instruction": [INSTRUCTIONS[task]]}
            with torch.no_grad():
                s = self.policy.sample(obs, 1.0 if temperature is None else temperature)
            ep.add_step(images={k: v[0] for k, v in obs["images"].items()}, proprio=obs["proprio"][0],
                        action=s.action[0].numpy(), log_prob=s.log_prob[0].numpy(),
                        raw_action=None if s.raw_action is None else s.raw_action[0].numpy(),
                        t_capture=100.0 + j, t_decision=100.01 + j, executed=8)
        return ep.commit(task=task, context_id=context_id, init_id=int(context_id.split("/")[1]),
                         instruction=INSTRUCTIONS[task], group_id=gid, reward=reward, label_source=label_source,
                         operator="ana" if label_source != "detector" else "", policy_version=version, status=status,
                         temperature=temperature, detector_p=detector_p)

    def group(self, cfg: HwTrainConfig, cycle: int, draw: int, rewards: list[int], version: int = 0) -> str:
        gid = group_id(cfg, cycle, version, draw)
        ctx = draw_context(cfg, cycle, draw).id
        for r in rewards:
            self.episode(gid, ctx, r, version)
        return gid


def make_cfg(tmp_path, **kw) -> HwTrainConfig:
    data = dict(run_dir=str(tmp_path / "run"), buffer=str(tmp_path / "hw.zarr"), policy=str(tmp_path / "v0"),
                contexts=CONTEXTS, instructions=INSTRUCTIONS, group_size=2, groups_needed=2, max_attempts=4,
                loop={"ppo_epochs": 2, "minibatch_size": 4, "lr_head": 1e-3, "lr_backbone": 1e-4})
    data.update(kw)
    return validate_config(HwTrainConfig, data, "test")


@pytest.fixture
def robot(tmp_path):
    return Robot(tmp_path)


def plan(robot, cfg, state):
    return plan_cycle(robot.buf.episodes, cfg, state)


# ---- config -----------------------------------------------------------------------------------

def test_config_k_is_said_once_and_errors_name_the_field(tmp_path):
    cfg = make_cfg(tmp_path, group_size=4)
    assert cfg.loop.group_size == 4 and cfg.attempt_cap == 4
    assert make_cfg(tmp_path, max_attempts=None).attempt_cap == 8
    with pytest.raises(ConfigError, match="loop.group_size .8. differs from group_size .4."):
        make_cfg(tmp_path, group_size=4, loop={"group_size": 8})
    with pytest.raises(ConfigError, match="no instruction for task.s. pick_green"):
        make_cfg(tmp_path, instructions={"pick_red": "a", "pick_blue": "b"})
    with pytest.raises(ConfigError, match="contexts.*repeated: pick_red/0"):
        make_cfg(tmp_path, contexts=["pick_red/0", "pick_red/0"])
    with pytest.raises(ConfigError, match="contexts.*must look like 'task/123'"):
        make_cfg(tmp_path, contexts=["pick_red"])
    with pytest.raises(ConfigError, match="group_sizee: unknown key"):
        make_cfg(tmp_path, group_sizee=3)


def test_shipped_config_validates():
    from pathlib import Path

    cfg = HwTrainConfig.load(Path(__file__).resolve().parents[2] / "configs" / "hw_train.yaml")
    assert cfg.loop.group_size == cfg.group_size


def test_draws_are_deterministic_and_cover_the_contexts(tmp_path):
    cfg = make_cfg(tmp_path)
    first = [draw_context(cfg, 0, d).id for d in range(5)]
    assert sorted(first) == sorted(CONTEXTS)  # one pass = a permutation
    assert first == [draw_context(cfg, 0, d).id for d in range(5)]
    assert first != [draw_context(cfg, 1, d).id for d in range(5)] or first != [
        draw_context(cfg, 2, d).id for d in range(5)]  # other cycles draw other orders
    seq = make_cfg(tmp_path, sampling="sequential")
    assert [draw_context(seq, 1, d).id for d in range(3)] == CONTEXTS[2:5]  # continues after cycle 0's 2 groups


# ---- planning ---------------------------------------------------------------------------------

def test_empty_buffer_plans_the_first_group_and_lists_the_rest(tmp_path, robot):
    cfg = make_cfg(tmp_path)
    state, resumed = open_or_init_state(cfg)
    assert not resumed and state.policy_version == 0 and state.cycle == 0
    p = plan(robot, cfg, state)
    s = p.schedule
    assert (s.status, s.current, s.group_size, s.groups_needed) == ("collecting", 0, 2, 2)
    assert [g.state for g in s.groups] == ["collecting", "pending"]
    assert s.groups[0].group_id == "hw-c0-v0-d0" and s.groups[0].context_id == draw_context(cfg, 0, 0).id
    assert s.groups[0].instruction == INSTRUCTIONS[s.groups[0].context_id.split("/")[0]]
    assert s.progress_text() == "context 1 of 2, rollout 1 of 2"
    assert not p.ready and parse_hw_schedule(s.to_json()) == s  # the message the panel parses


def test_counts_only_usable_episodes_of_the_group_and_version(tmp_path, robot):
    cfg = make_cfg(tmp_path)
    state, _ = open_or_init_state(cfg)
    gid = group_id(cfg, 0, 0, 0)
    ctx = draw_context(cfg, 0, 0).id
    robot.episode(gid, ctx, 1)
    robot.episode(gid, ctx, 0, status="aborted")      # abort / re-record: not usable
    robot.episode(gid, ctx, 1, version=1)             # sampled by another policy version
    robot.episode("eval-7", ctx, 1)                   # plain labelling outside hw-train
    g = plan(robot, cfg, state).schedule.groups[0]
    assert (g.state, g.rollouts_done, g.successes) == ("collecting", 1, 1)
    assert plan(robot, cfg, state).schedule.progress_text() == "context 1 of 2, rollout 2 of 2"


def test_episodes_sampled_at_another_temperature_do_not_count_and_the_schedule_says_so(tmp_path, robot):
    """The node's temperature changed by hand (0.5, loop.temperature 1.0): those rollouts cannot be scored, so
    the group asks for replacements; an episode from a pre-format-3 writer (NaN) is taken as loop.temperature."""
    cfg = make_cfg(tmp_path)
    state, _ = open_or_init_state(cfg)
    gid = group_id(cfg, 0, 0, 0)
    ctx = draw_context(cfg, 0, 0).id
    robot.episode(gid, ctx, 1, temperature=0.5)
    robot.episode(gid, ctx, 0, temperature=0.5)
    p = plan(robot, cfg, state)
    g = p.schedule.groups[0]
    assert (g.state, g.rollouts_done, p.off_temperature) == ("collecting", 0, 2)
    assert "2 episode(s) sampled at another temperature than loop.temperature 1 do not count" in p.schedule.message
    robot.episode(gid, ctx, 1, temperature=1.0)
    robot.episode(gid, ctx, 0, temperature=None)
    p = plan(robot, cfg, state)
    assert (p.schedule.groups[0].state, p.signal_groups[0].episode_ids) == ("complete", [2, 3])


def test_rejection_draws_another_context_and_signal_groups_make_it_ready(tmp_path, robot):
    cfg = make_cfg(tmp_path)
    state, _ = open_or_init_state(cfg)
    robot.group(cfg, 0, 0, [1, 1])  # all success: no signal -> rejected
    s = plan(robot, cfg, state).schedule
    assert [g.state for g in s.groups] == ["rejected", "collecting", "pending"]
    assert s.current == 1 and s.groups[1].context_id == draw_context(cfg, 0, 1).id
    robot.group(cfg, 0, 1, [1, 0])
    s = plan(robot, cfg, state).schedule
    assert [g.state for g in s.groups] == ["rejected", "complete", "collecting"] and s.current == 2
    robot.group(cfg, 0, 2, [0, 1])
    p = plan(robot, cfg, state)
    assert p.ready and p.schedule.current == -1 and p.schedule.status == "training"
    assert [g.group_id for g in p.signal_groups] == ["hw-c0-v0-d1", "hw-c0-v0-d2"]
    assert [g.rewards for g in p.signal_groups] == [[1, 0], [0, 1]]
    # Episodes past K (a re-record after the group completed) change nothing.
    robot.episode("hw-c0-v0-d2", draw_context(cfg, 0, 2).id, 0)
    assert plan(robot, cfg, state).signal_groups[1].rewards == [0, 1]


def test_attempt_cap_with_some_signal_trains_without_any_is_exhausted(tmp_path, robot):
    cfg = make_cfg(tmp_path, max_attempts=2)
    state, _ = open_or_init_state(cfg)
    robot.group(cfg, 0, 0, [0, 0])
    robot.group(cfg, 0, 1, [1, 0])
    p = plan(robot, cfg, state)
    assert p.ready and len(p.signal_groups) == 1 and len(p.schedule.groups) == 2
    cfg3 = make_cfg(tmp_path, max_attempts=2, group_prefix="other")
    robot.group(cfg3, 0, 0, [0, 0])
    robot.group(cfg3, 0, 1, [1, 1])
    p = plan(robot, cfg3, state)
    assert p.exhausted and not p.ready and p.schedule.status == "idle" and "no update possible" in p.schedule.message


def test_skip_moves_to_the_next_context_and_only_the_current_group_can_be_skipped(tmp_path, robot):
    cfg = make_cfg(tmp_path)
    state, _ = open_or_init_state(cfg)
    robot.group(cfg, 0, 0, [1])  # one rollout done, then the operator skips (e.g. the scene cannot be set up)
    p = plan(robot, cfg, state)
    with pytest.raises(ConfigError, match="not the current group .hw-c0-v0-d0."):
        skip_group(state, p, "hw-c0-v0-d5")
    state = skip_group(state, p, "hw-c0-v0-d0")
    s = plan(robot, cfg, state).schedule
    assert [g.state for g in s.groups] == ["skipped", "collecting", "pending"] and s.current == 1
    robot.episode("hw-c0-v0-d0", draw_context(cfg, 0, 0).id, 0)  # a late label of the skipped group
    assert [g.state for g in plan(robot, cfg, state).schedule.groups][:2] == ["skipped", "collecting"]


def test_restart_recomputes_the_same_schedule_from_buffer_and_state_file(tmp_path, robot):
    cfg = make_cfg(tmp_path)
    state, _ = open_or_init_state(cfg)
    robot.group(cfg, 0, 0, [0, 0])
    state = skip_group(state, plan(robot, cfg, state), "hw-c0-v0-d1")
    save_state(cfg.run_dir, state)
    robot.group(cfg, 0, 2, [1])
    before = plan(robot, cfg, state).schedule
    robot.buf.close()
    # A new process: a reader on the store the writer left, and the state file.
    resumed, was = open_or_init_state(cfg)
    assert was and resumed == state
    reader = RolloutBuffer.open(tmp_path / "hw.zarr")
    after = plan_cycle(reader.episodes, cfg, resumed).schedule
    assert after == before and after.to_json() == before.to_json()
    assert [g.state for g in after.groups] == ["rejected", "skipped", "collecting", "pending"]


def test_reader_sees_episodes_committed_after_it_opened(tmp_path, robot):
    cfg = make_cfg(tmp_path)
    state, _ = open_or_init_state(cfg)
    reader = RolloutBuffer.open(tmp_path / "hw.zarr")  # hw-train's read-only view
    assert plan_cycle(reader.episodes, cfg, state).schedule.groups[0].rollouts_done == 0
    robot.group(cfg, 0, 0, [1])
    reader.refresh()
    assert plan_cycle(reader.episodes, cfg, state).schedule.groups[0].rollouts_done == 1


# ---- update -----------------------------------------------------------------------------------

def test_update_uses_only_current_version_complete_signal_groups(tmp_path, robot):
    cfg = make_cfg(tmp_path)
    state, _ = open_or_init_state(cfg)
    # Noise that must not enter the update: another version's group, a non-hw group, an incomplete one.
    robot.group(cfg, 0, 0, [1, 0], version=1)
    for r in (1, 0):
        robot.episode("eval-1", "pick_red/0", r)
    robot.group(cfg, 0, 0, [1, 1])   # rejected
    robot.group(cfg, 0, 1, [1, 0])
    robot.group(cfg, 0, 2, [0, 1])
    p = plan(robot, cfg, state)
    assert p.ready
    used = [e for g in p.signal_groups for e in g.episode_ids]
    table = robot.buf.episodes
    assert set(table["group_id"][used]) == {"hw-c0-v0-d1", "hw-c0-v0-d2"}
    assert set(table["policy_version"][used]) == {0}
    before = load_policy(state.checkpoint)
    new, metrics = update_cycle(cfg, state, p)
    assert metrics["rollout/groups"] == 2 and metrics["rollout/rejected_groups"] == 1
    assert metrics["rollout/effective_batch_size"] == 4 and metrics["charts/train_success_rate"] == 0.5
    assert (new.cycle, new.policy_version, new.skipped) == (1, 1, [])
    assert load_state(cfg.run_dir) == new
    after = load_policy(new.checkpoint)
    assert after.version == 1 and new.deploy_path == new.checkpoint
    assert (cfg.run_path / "optim" / "v1.pt").is_file()
    rec = json.loads((cfg.run_path / "metrics.jsonl").read_text().splitlines()[-1])
    assert rec["step"] == 0 and rec["rollout/groups"] == 2
    # The update moved log-probs along the advantages: successes gained relative to failures.
    batch = groups_to_batch(robot.buf, [g.episode_group() for g in p.signal_groups], cfg.loop)
    with torch.no_grad():
        delta = (after.log_prob(batch.obs, batch.sample) - before.log_prob(batch.obs, batch.sample)).mean((1, 2))
    assert delta[batch.advantages > 0].mean() > delta[batch.advantages < 0].mean()
    # The next cycle plans version 1's groups from scratch: the old episodes no longer count.
    s = plan(robot, cfg, new).schedule
    assert s.cycle == 1 and s.policy_version == 1 and s.groups[0].group_id == "hw-c1-v1-d0"
    assert s.groups[0].rollouts_done == 0


def test_update_is_refused_when_not_ready_and_rerun_is_identical(tmp_path, robot):
    cfg = make_cfg(tmp_path, groups_needed=1)
    state, _ = open_or_init_state(cfg)
    with pytest.raises(ConfigError, match="not ready"):
        update_cycle(cfg, state, plan(robot, cfg, state))
    robot.group(cfg, 0, 0, [0, 1])
    p = plan(robot, cfg, state)
    new, _ = update_cycle(cfg, state, p)
    w1 = load_policy(new.checkpoint).state_dict()
    # A crash after the update but before the state was saved: the rerun gives the same weights.
    save_state(cfg.run_dir, state)
    again, _ = update_cycle(cfg, state, p)
    w2 = load_policy(again.checkpoint).state_dict()
    assert all(torch.equal(w1[k], w2[k]) for k in w1)


def test_onnx_export_is_what_gets_deployed(tmp_path, robot):
    pytest.importorskip("onnx")
    cfg = make_cfg(tmp_path, groups_needed=1, export="onnx")
    state, _ = open_or_init_state(cfg)
    assert state.deploy_path.endswith("policies/v0.onnx")
    robot.group(cfg, 0, 0, [0, 1])
    new, _ = update_cycle(cfg, state, plan(robot, cfg, state))
    assert new.deploy_path.endswith("policies/v1.onnx") and new.checkpoint.endswith("policies/v1")
    from robot_rl.deploy import load_runner

    assert load_runner(new.deploy_path, device="cpu").version == 1


# ---- command line -----------------------------------------------------------------------------

def test_cli_help_and_check_need_no_ros(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    exe = str(Path(sys.executable).parent / "robot-rl")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([exe, "hw-train", "--help"], capture_output=True, text=True, check=True).stdout
    for word in ("dynamic", "reload_policy", "policy_version", "Resumable", "hw_state.json", "--check"):
        assert word in out, word
    ok = subprocess.run([exe, "hw-train", str(root / "configs" / "hw_train.yaml"), "--check",
                         "--set", "group_size=4"], capture_output=True, text=True)
    assert ok.returncode == 0 and "K=4" in ok.stdout, ok.stderr
    bad = subprocess.run([exe, "hw-train", str(root / "configs" / "hw_train.yaml"), "--check",
                          "--set", "groups_needed=0"], capture_output=True, text=True)
    assert bad.returncode == 2 and "groups_needed: got 0" in bad.stderr, bad.stderr


def test_label_report_counts_sources_operator_share_and_disagreements(tmp_path, robot):
    # (source, reward, detector_p): an auto label, an accepted proposal, two operator labels a detector
    # scored (one agrees, one disagrees), one without a detector, and one that is not asked about.
    rows = [("detector", 1, 0.97), ("detector_confirmed", 0, 0.04), ("operator", 1, 0.8), ("operator", 0, 0.9),
            ("operator", 1, None), ("detector", 1, 0.99)]
    ids = [robot.episode("g", "pick_red/0", r, label_source=src, detector_p=p) for src, r, p in rows]
    rep = label_report(RolloutBuffer.open(tmp_path / "hw.zarr"), ids[:5])
    assert rep == {"labels/operator": 3.0, "labels/detector": 1.0, "labels/detector_confirmed": 1.0, "labels/sim": 0.0,
                   "labels/operator_share": 0.8, "labels/operator_with_detector": 2.0, "labels/disagreements": 1.0}
    assert label_report(robot.buf, [])["labels/operator_share"] == 0.0
