"""The hardware path: LOOP updates from operator-labelled K-groups in a buffer, no simulator involved."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from test_trainer import TINY

from robot_rl.algorithms.loop import LoopConfig
from robot_rl.buffer import RolloutBuffer
from robot_rl.env import Context, make_suite
from robot_rl.errors import ConfigError
from robot_rl.policies import collate_observations, load_policy, make_policy, save_policy
from robot_rl.train.from_buffer import signal_groups, update_from_buffer


@pytest.fixture
def recorded(tmp_path):
    """A buffer as the robot would write it: 3 groups of K=4 sampled by policy v0, labelled by an operator."""
    suite = make_suite("point_reach")
    env = suite.make_env()
    torch.manual_seed(0)
    policy = make_policy("tiny", suite.spec, TINY)
    save_policy(policy, tmp_path / "v0")
    buf = RolloutBuffer.create(tmp_path / "hw.zarr", suite.spec)
    labels = {"g0": [1, 0, 0, 1], "g1": [0, 0, 0, 0], "g2": [1, 1, 0, 1]}
    for gi, (gid, rewards) in enumerate(labels.items()):
        ctx = Context("reach_red", gi)
        for r in rewards:
            obs = env.reset(ctx)
            ep = buf.begin_episode()
            for _ in range(3):
                s = policy.sample(collate_observations([obs]), 1.0)
                ep.add_step(images=obs.images, proprio=obs.proprio, action=s.action[0].numpy(),
                            log_prob=s.log_prob[0].numpy(), raw_action=s.raw_action[0].numpy(), t_capture=obs.timestamp)
                for a in s.action[0].numpy():
                    obs = env.step(a).obs
            ep.commit(task=ctx.task, context_id=ctx.id, init_id=ctx.init_id, instruction=obs.instruction,
                      group_id=gid, reward=r, label_source="operator", operator="alice", policy_version=0)
    buf.close()
    return tmp_path


def test_signal_groups_rejects_all_equal(recorded):
    buf = RolloutBuffer.open(recorded / "hw.zarr")
    groups, rejected = signal_groups(buf, 4, policy_version=0)
    assert rejected == 1 and len(groups) == 2
    np.testing.assert_array_equal([g.rewards for g in groups], [[1, 0, 0, 1], [1, 1, 0, 1]])
    assert signal_groups(buf, 4, policy_version=1)[0] == []


def test_update_raises_likelihood_of_successes(recorded):
    cfg = LoopConfig(group_size=4, ppo_epochs=2, minibatch_size=24, lr_backbone=3e-5, lr_head=3e-4)
    before = load_policy(recorded / "v0")
    metrics = update_from_buffer(recorded / "hw.zarr", recorded / "v0", recorded / "run", cfg)
    assert metrics["rollout/groups"] == 2 and metrics["rollout/rejected_groups"] == 1
    after = load_policy(recorded / "run" / "policy")
    assert after.version == 1 and (recorded / "run" / "optimizer.pt").is_file()

    # The update moved log-probs along the advantages (the surrogate PPO maximises, token-mean):
    # successes (A > 0) gained relative to failures (A < 0).
    from robot_rl.train.batch import groups_to_batch

    buf = RolloutBuffer.open(recorded / "hw.zarr")
    groups, _ = signal_groups(buf, 4, 0)
    batch = groups_to_batch(buf, groups, cfg)
    with torch.no_grad():
        delta = (after.log_prob(batch.obs, batch.sample) - before.log_prob(batch.obs, batch.sample)).mean((1, 2))  # (N,)
    assert (delta * batch.advantages).sum() > 0
    assert delta[batch.advantages > 0].mean() > delta[batch.advantages < 0].mean()


def test_no_signal_is_a_clear_error(recorded):
    with pytest.raises(ConfigError, match="no complete group of K=4 .* policy version 5"):
        update_from_buffer(recorded / "hw.zarr", recorded / "v0", recorded / "run", LoopConfig(group_size=4),
                           policy_version=5)


def test_cli_from_buffer(recorded, tmp_path):
    cfg = tmp_path / "hw.yaml"
    cfg.write_text(f"policy: {recorded / 'v0'}\nloop: {{group_size: 4, ppo_epochs: 1, minibatch_size: 8}}\n")
    out = subprocess.run([sys.executable, "-m", "robot_rl.cli", "train", str(cfg), "--from-buffer",
                          str(recorded / "hw.zarr"), "--out", str(tmp_path / "cli_run"), "--json"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["rollout/groups"] == 2
    assert load_policy(tmp_path / "cli_run" / "policy").version == 1
