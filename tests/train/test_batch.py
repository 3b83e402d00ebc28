"""groups_to_batch, the one path from stored episodes to a LOOP batch: what it refuses and how it scores.

Real tiny policies sample chunks into a real buffer; the batch read back must score to exactly the
stored log-probs under the policy that sampled them (ratio 1), whatever the mix of episodes.
"""

import numpy as np
import pytest
import torch

from robot_rl.algorithms.loop import LoopConfig
from robot_rl.buffer import RolloutBuffer
from robot_rl.env import Context, make_suite
from robot_rl.errors import ConfigError
from robot_rl.policies import collate_observations, make_policy, save_policy
from robot_rl.train.batch import EpisodeGroup, groups_to_batch
from robot_rl.train.from_buffer import update_from_buffer

SMALL = {"d_model": 32, "n_layers": 1, "n_heads": 2, "cnn_channels": [8, 8, 16], "image_grid": 2}


def _record(path, policy, temperatures, raw=None, steps=3):
    """One K-group (K = len(temperatures)) of episodes sampled by ``policy``; episode k at temperatures[k].

    ``raw[k]`` False: store episode k like a writer that keeps no ``raw_action``: the executed action is
    the sample itself (unclipped) and its log-prob was taken on it.
    """
    suite = make_suite("point_reach")
    env = suite.make_env()
    buf = RolloutBuffer.create(path, suite.spec)
    gen = torch.Generator().manual_seed(0)
    ctx = Context("reach_red", 0)
    for k, temp in enumerate(temperatures):
        keep_raw = True if raw is None else raw[k]
        obs = env.reset(ctx)
        ep = buf.begin_episode()
        for _ in range(steps):
            s = policy.sample(collate_observations([obs]), temp, generator=gen)
            raw_action = None if s.raw_action is None or not keep_raw else s.raw_action[0].numpy()
            action = s.action if keep_raw or s.raw_action is None else s.raw_action
            ep.add_step(images=obs.images, proprio=obs.proprio, action=action[0].numpy(),
                        log_prob=s.log_prob[0].numpy(), tokens=None if s.tokens is None else s.tokens[0].numpy(),
                        raw_action=raw_action, t_capture=obs.timestamp)
            for a in s.action[0].numpy():
                obs = env.step(a).obs
        ep.commit(task=ctx.task, context_id=ctx.id, init_id=ctx.init_id, instruction=obs.instruction, group_id="g0",
                  reward=k % 2, label_source="operator", policy_version=0, temperature=temp)
    buf.close()
    return RolloutBuffer.open(path)


def _policy(kind, scale_init=None):
    torch.manual_seed(0)
    head = {"kind": kind, "bins": 32} if kind == "token" else {"kind": kind}
    if scale_init is not None:
        head["log_scale_init"] = scale_init
    return make_policy("tiny", make_suite("point_reach").spec, {**SMALL, "head": head}).eval()


def test_episodes_sampled_at_another_temperature_are_refused(tmp_path):
    policy = _policy("token")
    buf = _record(tmp_path / "b", policy, [0.5, 0.5, 1.0, 0.5])
    cfg = LoopConfig(group_size=4, temperature=0.5)
    with pytest.raises(ConfigError, match=r"loop.temperature: got 0.5, but episodes \[2\] were sampled at 1 "):
        groups_to_batch(buf, [EpisodeGroup.of([0, 1, 2, 3], [0, 1, 0, 1])], cfg)
    # The same episodes at the temperature they were sampled at: accepted, ratios exactly 1.
    ok = _record(tmp_path / "c", policy, [0.5] * 4)
    batch = groups_to_batch(ok, [EpisodeGroup.of([0, 1, 2, 3], [0, 1, 0, 1])], cfg)
    with torch.no_grad():
        torch.testing.assert_close(policy.log_prob(batch.obs, batch.sample, temperature=0.5), batch.sample.log_prob)


def test_from_buffer_refuses_a_temperature_mismatch(tmp_path):
    policy = _policy("token")
    save_policy(policy, tmp_path / "v0")
    _record(tmp_path / "hw.zarr", policy, [0.8] * 4).close()
    with pytest.raises(ConfigError, match=r"loop.temperature: got 1, but episodes \[0, 1, 2, 3\] were sampled at 0.8"):
        update_from_buffer(tmp_path / "hw.zarr", tmp_path / "v0", tmp_path / "run", LoopConfig(group_size=4))
    assert not (tmp_path / "run" / "policy").exists()


@pytest.mark.parametrize("kind", ["gaussian", "laplace"])
def test_a_batch_mixing_raw_and_plain_episodes_scores_each_on_its_own(tmp_path, kind):
    """Episodes with raw_action are scored on it; episodes without, on their action (what they were sampled as).

    A wide scale makes many raw samples fall outside the spec limits, so clipped != raw.
    """
    policy = _policy(kind, scale_init=0.5)
    buf = _record(tmp_path / "b", policy, [1.0] * 4, raw=[True, False, True, False])
    batch = groups_to_batch(buf, [EpisodeGroup.of([0, 1, 2, 3], [0, 1, 0, 1])], LoopConfig(group_size=4))
    data = buf.read_steps([0, 2])
    assert (data["action"] != data["raw_action"]).any()  # some samples were clipped
    with torch.no_grad():
        rescored = policy.log_prob(batch.obs, batch.sample)
    torch.testing.assert_close(rescored, batch.sample.log_prob, rtol=0, atol=1e-5)
