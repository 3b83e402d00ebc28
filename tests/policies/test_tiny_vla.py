"""The policy interface on the tiny VLA: temperature consistency, granularities, spec checks, param groups."""

import numpy as np
import pytest
import torch
from policy_fixtures import random_obs, small_policy

from robot_rl.env import Observation
from robot_rl.errors import SpecMismatchError
from robot_rl.policies import collate_observations

KINDS = ["token", "gaussian", "laplace"]


@pytest.mark.parametrize("kind", KINDS)
def test_log_prob_of_sample_at_same_temperature_reproduces_sampling_log_prob(kind, spec):
    policy = small_policy(kind).eval()
    obs = random_obs(spec)
    s = policy.sample(obs, temperature=0.8, generator=torch.Generator().manual_seed(0))
    assert s.action.shape == s.log_prob.shape == (3, 4, 7)
    assert (s.tokens is not None) == (kind == "token") and (s.raw_action is not None) == (kind != "token")
    same = policy.log_prob(obs, s, temperature=0.8)
    assert torch.equal(same, s.log_prob)  # bit-identical: same code path, same temperature
    other = policy.log_prob(obs, s, temperature=1.0)
    assert (other - s.log_prob).abs().max() > 1e-3  # PPO ratios would be wrong if T were dropped when scoring


@pytest.mark.parametrize("kind", KINDS)
def test_granularities_are_sums_and_log_prob_is_differentiable(kind, spec):
    policy = small_policy(kind)
    obs = random_obs(spec)
    s = policy.sample(obs, generator=torch.Generator().manual_seed(1))
    tok = policy.log_prob(obs, s, granularity="token")
    act = policy.log_prob(obs, s, granularity="action")
    chunk = policy.log_prob(obs, s, granularity="chunk")
    assert tok.shape == (3, 4, 7) and act.shape == (3, 4) and chunk.shape == (3,)
    assert tok.dtype == torch.float32
    torch.testing.assert_close(act, tok.sum(-1))
    torch.testing.assert_close(chunk, tok.sum((1, 2)))
    chunk.sum().backward()
    grads = [p.grad for p in policy.param_groups()["backbone"] if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("kind", KINDS)
def test_act_is_deterministic_and_actions_stay_in_spec_limits(kind, spec):
    policy = small_policy(kind).eval()
    obs = random_obs(spec)
    a1, a2 = policy.act(obs), policy.act(obs)
    assert torch.equal(a1, a2) and a1.shape == (3, 4, 7)
    s = policy.sample(obs, temperature=5.0, generator=torch.Generator().manual_seed(3))
    low, high = torch.from_numpy(spec.action_low), torch.from_numpy(spec.action_high)
    for a in (a1, s.action):
        assert torch.all(a >= low) and torch.all(a <= high)
    ent = policy.entropy(obs, temperature=1.0)
    assert ent.shape == (3, 4, 7) and torch.isfinite(ent).all()
    assert (policy.entropy(obs, temperature=2.0) > ent).all()  # hotter = more spread out


def test_same_generator_seed_gives_same_sample(spec):
    policy = small_policy("token").eval()
    obs = random_obs(spec)
    s1 = policy.sample(obs, generator=torch.Generator().manual_seed(7))
    s2 = policy.sample(obs, generator=torch.Generator().manual_seed(7))
    assert torch.equal(s1.tokens, s2.tokens)


def test_spec_mismatches_are_refused_naming_the_camera_or_field(spec):
    policy = small_policy("gaussian")
    obs = random_obs(spec)
    missing = {**obs, "images": {"agentview": obs["images"]["agentview"]}}
    with pytest.raises(SpecMismatchError, match="camera 'wrist'"):
        policy.act(missing)
    extra = {**obs, "images": {**obs["images"], "side": obs["images"]["wrist"]}}
    with pytest.raises(SpecMismatchError, match="camera 'side'"):
        policy.act(extra)
    small = {**obs, "images": {**obs["images"], "wrist": obs["images"]["wrist"][:, :16]}}
    with pytest.raises(SpecMismatchError, match="camera 'wrist'.*\\(B, 32, 32, 3\\)"):
        policy.act(small)
    floats = {**obs, "images": {**obs["images"], "agentview": obs["images"]["agentview"].astype(np.float32)}}
    with pytest.raises(SpecMismatchError, match="camera 'agentview'.*uint8"):
        policy.act(floats)
    with pytest.raises(SpecMismatchError, match="proprio.*eef_pos\\[3\\]"):
        policy.act({**obs, "proprio": obs["proprio"][:, :6]})
    with pytest.raises(SpecMismatchError, match="batch size"):
        policy.act({**obs, "instruction": ["a"]})


def test_collate_observations_feeds_the_policy(spec):
    policy = small_policy("laplace").eval()
    batch = random_obs(spec, batch=2)
    observations = [Observation(images={c: batch["images"][c][i] for c in spec.camera_names},
                                proprio=batch["proprio"][i], instruction=batch["instruction"][i]) for i in range(2)]
    collated = collate_observations(observations)
    torch.testing.assert_close(policy.act(collated), policy.act(batch))
    torch.testing.assert_close(policy.act(observations[0]), policy.act(batch)[:1])


@pytest.mark.parametrize("kind", ["token", "gaussian"])
def test_param_groups_are_disjoint_and_complete(kind):
    policy = small_policy(kind)
    groups = policy.param_groups()
    ids = [id(p) for g in groups.values() for p in g]
    assert set(groups) == {"backbone", "head"} and len(ids) == len(set(ids))
    assert set(ids) == {id(p) for p in policy.parameters()}
    assert groups["head"] and groups["backbone"]


def test_instruction_changes_the_output(spec):
    policy = small_policy("gaussian").eval()
    obs = random_obs(spec, batch=1)
    other = {**obs, "instruction": ["put the bowl away"]}
    assert not torch.equal(policy.head_outputs(obs)["mean"], policy.head_outputs(other)["mean"])
