"""Known-answer tests for the group advantage estimators."""

import numpy as np
import pytest
import torch

from robot_rl.algorithms.advantages import (
    group_advantages,
    grpo_advantages,
    per_step_advantages,
    rloo_advantages,
)
from robot_rl.errors import AlgorithmError


def test_rloo_hand_computed_cases():
    adv = rloo_advantages(torch.tensor([[1.0, 0.0, 0.0, 1.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]))
    expected = torch.tensor([
        [2 / 3, -2 / 3, -2 / 3, 2 / 3],  # baseline for a success: (2 - 1) / 3
        [1.0, -1 / 3, -1 / 3, -1 / 3],  # the lone success vs mean 0; each failure vs mean 1/3
        [0.0, 0.0, 0.0, 0.0],  # all equal: no signal
    ])
    torch.testing.assert_close(adv, expected)


def test_rloo_equals_scaled_mean_centering_and_sums_to_zero():
    r = torch.rand(5, 8, generator=torch.Generator().manual_seed(0))
    adv = rloo_advantages(r)
    torch.testing.assert_close(adv, 8 / 7 * (r - r.mean(dim=1, keepdim=True)))
    torch.testing.assert_close(adv.sum(dim=1), torch.zeros(5), atol=1e-6, rtol=0)


def test_rloo_accepts_numpy_and_keeps_fp32():
    adv = rloo_advantages(np.array([[1, 0]], dtype=np.int64))
    assert adv.dtype == torch.float32
    torch.testing.assert_close(adv, torch.tensor([[1.0, -1.0]]))


def test_grpo_normalises_by_group_std():
    r = torch.tensor([[1.0, 0.0, 0.0, 1.0], [1.0, 1.0, 1.0, 1.0]])
    adv = grpo_advantages(r, eps=0.0 + 1e-12)
    std = np.std([1, 0, 0, 1], ddof=1)  # unbiased, like torch.std: sqrt(1/3)
    torch.testing.assert_close(adv[0], torch.tensor([0.5, -0.5, -0.5, 0.5]) / std)
    torch.testing.assert_close(adv[1], torch.zeros(4))  # all-equal group: 0 / eps
    pop = grpo_advantages(r[:1], eps=1e-12, unbiased=False)
    torch.testing.assert_close(pop, torch.tensor([[1.0, -1.0, -1.0, 1.0]]))  # population std 0.5


def test_switch_selects_estimator_and_rejects_unknown():
    r = torch.tensor([[1.0, 0.0, 0.0]])
    torch.testing.assert_close(group_advantages(r, "rloo"), rloo_advantages(r))
    torch.testing.assert_close(group_advantages(r, "grpo", eps=1e-3), grpo_advantages(r, eps=1e-3))
    with pytest.raises(AlgorithmError, match="allowed: rloo, grpo"):
        group_advantages(r, "gae")


@pytest.mark.parametrize("bad", [torch.zeros(4), torch.zeros(3, 1), torch.tensor([[0.0, float("nan")]])])
def test_bad_rewards_raise(bad):
    with pytest.raises(AlgorithmError):
        rloo_advantages(bad)


def test_per_step_advantages_repeat_each_episode():
    adv = torch.tensor([[0.5, -0.5], [1.0, -1.0]])
    out = per_step_advantages(adv, [2, 1, 0, 3])
    torch.testing.assert_close(out, torch.tensor([0.5, 0.5, -0.5, -1.0, -1.0, -1.0]))
    with pytest.raises(AlgorithmError, match="one entry per episode"):
        per_step_advantages(adv, [1, 2])


def test_has_signal_is_the_one_all_equal_rule():
    from robot_rl.algorithms.advantages import has_signal
    from robot_rl.rollout.schedule import Group

    assert has_signal([0, 1, 1, 1]) and has_signal(np.array([0.0, 0.5]))
    assert not has_signal([1, 1, 1, 1]) and not has_signal(np.zeros(4)) and not has_signal([])
    assert has_signal(Group(context=None, rewards=np.array([1.0, 0.0])))  # anything with .rewards
    # Where the rule is applied, the zero-advantage groups are exactly those it rejects.
    for r in ([1, 1, 1], [0, 0, 0], [0, 1, 0], [1, 0, 1]):
        assert has_signal(r) == bool(group_advantages(np.array([r], np.float32)).abs().sum() > 0)
