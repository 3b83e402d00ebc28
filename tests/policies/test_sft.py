"""Behaviour cloning and scale calibration on a synthetic dataset with a known answer."""

import numpy as np
import pytest
import torch
from policy_fixtures import small_policy, small_spec, synthetic_demos

from robot_rl.algorithms.sft import SftConfig, calibrate_scale, fit_stats, sft_train
from robot_rl.errors import ConfigError

FAST = {"progress": False, "augment_shift": 0, "batch_size": 32, "lr": 3e-3, "warmup_steps": 10}


def test_fit_stats_uses_percentile_bounds_clipped_to_spec():
    spec = small_spec()
    data = synthetic_demos(spec, n=400)
    stats = fit_stats(data, spec)
    assert stats.action_low[0] == pytest.approx(-0.04, abs=0.006) and stats.action_high[0] == pytest.approx(0.04, abs=0.006)
    assert stats.action_low[6] == -1.0 and stats.action_high[6] == 1.0
    # dims 2..5 are ~0 (tiny noise): bounds never collapse, and stay within the spec limits
    assert np.all(stats.action_high - stats.action_low > 0)
    assert np.all(stats.action_low >= spec.action_low) and np.all(stats.action_high <= spec.action_high)
    np.testing.assert_allclose(stats.proprio_mean, data.proprio.mean(0), atol=1e-6)


@pytest.mark.parametrize("kind", ["gaussian", "token"])
def test_sft_drives_the_loss_down_and_learns_the_known_mapping(kind):
    spec = small_spec()
    data = synthetic_demos(spec, n=256)
    policy = small_policy(kind, d_model=48)
    policy.set_stats(fit_stats(data, spec))
    obs, target = data.batch(np.arange(64))
    err_before = (policy.act(obs) - target).abs().mean((0, 1))
    result = sft_train(policy, data, SftConfig(steps=80, **FAST))
    first, last = np.mean(result.losses[:5]), np.mean(result.losses[-10:])
    # token CE cannot fall below the entropy of the noisy dimensions, so it is judged by a drop in nats
    assert (last < 0.3 * first) if kind == "gaussian" else (last < first - 0.8), (first, last)
    err = (policy.act(obs) - target).abs().mean((0, 1))  # (A,)
    # dx depends only on the instruction, the gripper only on proprio: both must be learned
    assert err[0] < 0.3 * err_before[0] and err[0] < 0.01
    assert err[6] < 0.3 * err_before[6] and err[6] < 0.3


def test_scale_calibration_recovers_a_known_laplace_scale_and_touches_nothing_else():
    spec = small_spec()
    data = synthetic_demos(spec, n=256)
    policy = small_policy("laplace", d_model=48, head={"log_scale_init": 0.5})  # starts far too wide
    policy.set_stats(fit_stats(data, spec))
    # Known answer: with the mean layer zeroed the mean is the bounds' centre; make the demo actions
    # centre + Laplace(b) noise, so the best scale is b and the best NLL is 1 + log(2b) per dimension.
    with torch.no_grad():
        policy.head.mean.weight.zero_()
        policy.head.mean.bias.zero_()
    low, high = policy.stats.action_low, policy.stats.action_high
    b = 0.1 * (high - low) / 2
    rng = np.random.default_rng(0)
    data.actions = ((low + high) / 2 + rng.laplace(size=data.actions.shape) * b).astype(np.float32)
    frozen = {k: v.clone() for k, v in policy.state_dict().items() if ".scale." not in k}
    result = calibrate_scale(policy, data, SftConfig(calibrate_steps=200, calibrate_lr=5e-2, progress=False))
    best = float(np.mean(1 + np.log(2 * b)))
    assert result.nll_before > best + 1.0
    assert result.nll_after == pytest.approx(best, abs=0.05), (result.nll_after, best)
    obs, _ = data.batch(np.arange(32))
    dist = policy.distribution(obs)
    fitted = dist.scale.mean((0, 1)).detach().numpy()  # (A,) spec units
    # the scale layer is state-dependent and sees 256 noisy samples, so it is only roughly constant
    np.testing.assert_allclose(fitted, b, rtol=0.35)
    for k, v in policy.state_dict().items():
        if k in frozen:
            assert torch.equal(v, frozen[k]), f"{k} changed during scale calibration"
    assert all(p.requires_grad for p in policy.parameters())  # flags restored


def test_scale_calibration_refuses_token_heads():
    spec = small_spec()
    with pytest.raises(ConfigError, match="gaussian or laplace"):
        calibrate_scale(small_policy("token"), synthetic_demos(spec, n=8), SftConfig(progress=False))


def test_sft_config_is_validated():
    with pytest.raises(Exception, match="steps"):
        SftConfig(steps=0)


def test_unexecuted_chunk_tails_do_not_count_in_loss_or_bounds():
    spec = small_spec()
    data = synthetic_demos(spec, n=16)
    data.executed = np.full(16, spec.chunk_length)
    data.executed[:4] = 1  # cut-short final chunks: their tails are padding ...
    data.actions[:4, 1:] = 0.05  # ... with values far from the real ones
    stats = fit_stats(data, spec)
    assert stats.action_high[2] < 0.01  # the padded 0.05s did not widen the bounds
    policy = small_policy("gaussian")
    policy.set_stats(stats)
    obs, actions = data.batch(np.arange(16))
    valid = torch.from_numpy(data.valid(np.arange(16)))
    loss, _ = policy.sft_loss(obs, actions, valid)
    clean = actions.clone()
    clean[:4, 1:] = -0.04  # changing what sits in the padding changes nothing
    loss2, _ = policy.sft_loss(obs, clean, valid)
    assert torch.equal(loss, loss2)
    assert not torch.equal(policy.sft_loss(obs, clean)[0], loss)
