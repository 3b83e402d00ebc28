"""Known-answer tests for the PPO clipped loss: values, gradients, clip fractions, aggregation."""

import math

import pytest
import torch

from robot_rl.algorithms.ppo import aggregate, ppo_loss, reduce_log_prob
from robot_rl.errors import AlgorithmError


def _loss_and_grad(ratios, advantages, **kw):
    new = torch.tensor(ratios, dtype=torch.float32).log().requires_grad_(True)
    old = torch.zeros_like(new)
    loss, stats = ppo_loss(new, old, torch.tensor(advantages, dtype=torch.float32), **kw)
    loss.backward()
    return loss, new.grad, stats


def test_clip_values_and_zero_gradient_where_clipped():
    # r=1.1 A=+1 inside; r=1.5 A=+1 clipped high; r=0.7 A=-1 clipped low; r=0.9 A=-1 inside;
    # r=0.5 A=+1 and r=1.5 A=-1: outside the range on the side the clip does not bind -> unclipped.
    ratios = [1.1, 1.5, 0.7, 0.9, 0.5, 1.5]
    adv = [1.0, 1.0, -1.0, -1.0, 1.0, -1.0]
    loss, grad, stats = _loss_and_grad(ratios, adv)
    per_element = [-1.1, -1.2, 0.8, 0.9, -0.5, 1.5]
    assert loss.item() == pytest.approx(sum(per_element) / 6, abs=1e-6)
    # d/d(log r) of -A r is -A r; clipped elements contribute nothing.
    expected = torch.tensor([-1.1, 0.0, 0.0, 0.9, -0.5, 1.5]) / 6
    torch.testing.assert_close(grad, expected)
    assert stats["clipfrac_high"].item() == pytest.approx(1 / 6)
    assert stats["clipfrac_low"].item() == pytest.approx(1 / 6)
    assert stats["clipfrac"].item() == pytest.approx(2 / 6)
    assert stats["ratio_min"].item() == pytest.approx(0.5)
    assert stats["ratio_max"].item() == pytest.approx(1.5)
    assert stats["ratio_mean"].item() == pytest.approx(sum(ratios) / 6)
    assert stats["adv_mean"].item() == pytest.approx(0.0)
    assert stats["adv_std"].item() == pytest.approx(1.0)


def test_clip_higher_is_asymmetric():
    ratios, adv = [1.25, 0.75], [1.0, -1.0]
    loss_sym, grad_sym, _ = _loss_and_grad(ratios, adv, clip_low=0.2, clip_high=0.2)
    loss_hi, grad_hi, stats = _loss_and_grad(ratios, adv, clip_low=0.2, clip_high=0.28)
    # Symmetric: both clipped (-1.2 and +0.8). Clip-higher: 1.25 < 1.28 is free, 0.75 still clipped at 0.8.
    assert loss_sym.item() == pytest.approx((-1.2 + 0.8) / 2)
    assert loss_hi.item() == pytest.approx((-1.25 + 0.8) / 2)
    torch.testing.assert_close(grad_sym, torch.zeros(2))
    torch.testing.assert_close(grad_hi, torch.tensor([-1.25 / 2, 0.0]))
    assert stats["clipfrac_high"].item() == 0.0 and stats["clipfrac_low"].item() == 0.5


def test_dual_clip_caps_negative_advantage_loss():
    ratios, adv = [4.0, 2.0, 4.0], [-1.0, -1.0, 1.0]
    loss_off, grad_off, _ = _loss_and_grad(ratios, adv)
    loss_on, grad_on, stats = _loss_and_grad(ratios, adv, dual_clip=3.0)
    # Without: 4, 2, -1.2. With c=3: min(4, 3)=3 (no gradient), 2 < 3 untouched, A>0 unaffected.
    assert loss_off.item() == pytest.approx((4.0 + 2.0 - 1.2) / 3)
    assert loss_on.item() == pytest.approx((3.0 + 2.0 - 1.2) / 3)
    torch.testing.assert_close(grad_off, torch.tensor([4.0, 2.0, 0.0]) / 3)
    torch.testing.assert_close(grad_on, torch.tensor([0.0, 2.0, 0.0]) / 3)
    assert stats["dual_clipfrac"].item() == pytest.approx(1 / 3)


def test_approx_kl_k1_and_k3_numbers():
    _, _, stats = _loss_and_grad([2.0, 0.5], [1.0, 1.0], clip_high=10.0, clip_low=0.9)
    assert stats["approx_kl_k1"].item() == pytest.approx(0.0, abs=1e-6)  # mean(-log r) = (-ln2 + ln2)/2
    k3 = ((2.0 - 1 - math.log(2.0)) + (0.5 - 1 - math.log(0.5))) / 2  # mean(r - 1 - log r) = 0.25
    assert stats["approx_kl"].item() == pytest.approx(k3, abs=1e-6)
    assert k3 == pytest.approx(0.25, abs=1e-12)


def test_log_ratio_clamp_keeps_loss_finite_and_fp32():
    new = torch.tensor([100.0, 0.0], dtype=torch.bfloat16)
    old = torch.zeros(2, dtype=torch.bfloat16)
    adv = torch.tensor([-1.0, 1.0])
    loss_clamped, _ = ppo_loss(new, old, adv, log_ratio_clamp=20.0)
    loss_raw, _ = ppo_loss(new, old, adv, log_ratio_clamp=None)
    assert loss_clamped.dtype == torch.float32
    assert math.isfinite(loss_clamped.item())
    assert loss_clamped.item() == pytest.approx((math.exp(20.0) - 1.0) / 2, rel=1e-3)
    assert math.isinf(loss_raw.item())


def test_per_sample_advantage_broadcasts_and_mask_drops_samples():
    # (N=2, H=1, A=2) token-level; sample 1 masked out entirely.
    new = torch.log(torch.tensor([[[1.1, 0.9]], [[5.0, 5.0]]])).requires_grad_(True)
    loss, stats = ppo_loss(new, torch.zeros_like(new), torch.tensor([1.0, -1.0]), mask=torch.tensor([True, False]))
    loss.backward()
    assert loss.item() == pytest.approx((-1.1 - 0.9) / 2)
    torch.testing.assert_close(new.grad, torch.tensor([[[-1.1, -0.9]], [[0.0, 0.0]]]) / 2)
    assert stats["num_valid"].item() == 2 and stats["weight"].item() == 2
    assert stats["ratio_max"].item() == pytest.approx(1.1)  # the masked 5.0 is not counted


def test_aggregation_modes_numerically():
    values = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
    mask = torch.tensor([[True, True, False], [True, False, False], [False, False, False]])
    loss, weight = aggregate(values, mask, "token-mean")
    assert loss.item() == pytest.approx(7 / 3) and weight.item() == 3
    loss, weight = aggregate(values, mask, "seq-mean-token-sum")
    assert loss.item() == pytest.approx((3 + 4) / 2) and weight.item() == 2
    loss, weight = aggregate(values, mask, "seq-mean-token-mean")
    assert loss.item() == pytest.approx((1.5 + 4) / 2) and weight.item() == 2
    # (N,) values: all modes agree on the mean over valid samples.
    flat = torch.tensor([1.0, 2.0, 6.0])
    for mode in ("token-mean", "seq-mean-token-sum", "seq-mean-token-mean"):
        assert aggregate(flat, torch.tensor([True, True, False]), mode)[0].item() == pytest.approx(1.5)
    with pytest.raises(AlgorithmError, match="allowed"):
        aggregate(values, None, "sum")


def test_weighted_microbatches_equal_the_full_batch():
    g = torch.Generator().manual_seed(0)
    values = torch.randn(6, 2, 3, generator=g)
    mask = torch.rand(6, 2, 3, generator=g) > 0.3
    for mode in ("token-mean", "seq-mean-token-sum", "seq-mean-token-mean"):
        full, total = aggregate(values, mask, mode)
        parts = [aggregate(values[s], mask[s], mode) for s in (slice(0, 2), slice(2, 6))]
        combined = sum(loss * w / total for loss, w in parts)
        assert combined.item() == pytest.approx(full.item(), abs=1e-6)


def test_reduce_log_prob_granularities():
    lp = torch.arange(12, dtype=torch.float32).reshape(1, 2, 6)  # (N, H, A) = (1, 2, 6)
    assert reduce_log_prob(lp, "token").shape == (1, 2, 6)
    torch.testing.assert_close(reduce_log_prob(lp, "action"), torch.tensor([[15.0, 51.0]]))
    torch.testing.assert_close(reduce_log_prob(lp, "chunk"), torch.tensor([66.0]))
    with pytest.raises(AlgorithmError, match="granularity"):
        reduce_log_prob(lp, "episode")


@pytest.mark.parametrize("kw", [dict(clip_low=1.0), dict(clip_high=0.0), dict(dual_clip=1.0),
                                dict(log_ratio_clamp=0.0)])
def test_bad_clip_settings_raise(kw):
    with pytest.raises(AlgorithmError):
        ppo_loss(torch.zeros(2), torch.zeros(2), torch.zeros(2), **kw)


def test_shape_mismatches_raise():
    with pytest.raises(AlgorithmError, match="same shape"):
        ppo_loss(torch.zeros(2, 3), torch.zeros(2), torch.zeros(2))
    with pytest.raises(AlgorithmError, match="advantages"):
        ppo_loss(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(2, 3))
    with pytest.raises(AlgorithmError, match="mask"):
        ppo_loss(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(2), mask=torch.ones(3, dtype=torch.bool))
