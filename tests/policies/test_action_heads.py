"""Known-answer tests for the action distributions (no network involved)."""

import math

import numpy as np
import pytest
import torch

from robot_rl.errors import ConfigError
from robot_rl.policies import PolicySample, reduce_log_prob
from robot_rl.policies.heads import (ContinuousDistribution, TokenDistribution, detokenize, make_distribution,
                                     tokenize_actions)

LOW, HIGH = torch.tensor([-1.0, 0.0]), torch.tensor([1.0, 2.0])
SPEC_LOW, SPEC_HIGH = torch.tensor([-1.0, -0.5]), torch.tensor([1.0, 1.5])


def test_token_log_prob_is_hand_computed_log_softmax_at_each_granularity():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 2, 5)  # (B, H, A, K)
    tokens = torch.randint(0, 5, (2, 3, 2))
    t = 0.7
    dist = TokenDistribution(logits, LOW, HIGH, SPEC_LOW, SPEC_HIGH, temperature=t)
    lp = dist.log_prob(PolicySample(action=torch.zeros(2, 3, 2), log_prob=torch.zeros(0), tokens=tokens))
    by_hand = torch.empty(2, 3, 2)
    for b in range(2):
        for h in range(3):
            for a in range(2):
                z = logits[b, h, a] / t
                by_hand[b, h, a] = z[tokens[b, h, a]] - torch.log(torch.exp(z).sum())
    torch.testing.assert_close(lp, by_hand)
    torch.testing.assert_close(reduce_log_prob(lp, "action"), by_hand.sum(-1))
    assert reduce_log_prob(lp, "chunk")[1].item() == pytest.approx(sum(by_hand[1, h, a].item() for h in range(3) for a in range(2)), abs=1e-5)
    assert reduce_log_prob(lp, "chunk").shape == (2,)


def test_token_bins_cover_bounds_exactly_and_action_is_clipped_to_spec():
    tokens = tokenize_actions(torch.tensor([[-1.0, 0.0], [1.0, 2.0], [5.0, -3.0]]), LOW, HIGH, 5)
    assert tokens.tolist() == [[0, 0], [4, 4], [4, 0]]  # out-of-bounds values clip to the end bins
    torch.testing.assert_close(detokenize(tokens, LOW, HIGH, 5), torch.tensor([[-1.0, 0.0], [1.0, 2.0], [1.0, 0.0]]))
    dist = TokenDistribution(torch.zeros(1, 1, 2, 5), LOW, HIGH, SPEC_LOW, SPEC_HIGH)
    # bin 4 of dim 1 is at 2.0 but the spec limit is 1.5
    assert dist.to_action(torch.tensor([[[4, 4]]])).tolist() == [[[1.0, 1.5]]]


def test_sampled_token_frequencies_match_softmax():
    logits = torch.tensor([1.0, 0.0, -1.0, 2.0, 0.5])
    t = 1.3
    n = 40_000
    dist = TokenDistribution(logits.expand(n, 1, 1, 5), LOW[:1], HIGH[:1], SPEC_LOW[:1], SPEC_HIGH[:1], temperature=t)
    s = dist.sample(torch.Generator().manual_seed(123))
    freq = torch.bincount(s.tokens.flatten(), minlength=5).double() / n
    p = torch.softmax(logits.double() / t, -1)
    sigma = torch.sqrt(p * (1 - p) / n)
    assert torch.all((freq - p).abs() < 4.5 * sigma), (freq, p)
    # and the reported log-prob of each sample is log p[token]
    torch.testing.assert_close(s.log_prob.flatten().double(), torch.log(p)[s.tokens.flatten()], atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", ["gaussian", "laplace"])
def test_continuous_log_prob_and_entropy_match_closed_forms(kind):
    torch.manual_seed(1)
    mean, log_scale = torch.randn(3, 4, 2) * 0.5, torch.randn(3, 4, 2) * 0.3 - 1
    t = 1.7
    dist = ContinuousDistribution(kind, mean, log_scale, LOW, HIGH, SPEC_LOW, SPEC_HIGH, temperature=t)
    half, centre = (HIGH - LOW) / 2, (HIGH + LOW) / 2
    loc, scale = centre + mean * half, torch.exp(log_scale) * half * t
    raw = torch.randn(3, 4, 2)
    lp = dist.log_prob(PolicySample(action=raw.clamp(-0.5, 0.5), log_prob=torch.zeros(0), raw_action=raw))
    if kind == "gaussian":
        closed = -((raw - loc) ** 2) / (2 * scale**2) - torch.log(scale) - 0.5 * math.log(2 * math.pi)
        ref = torch.distributions.Normal(loc, scale)
    else:
        closed = -(raw - loc).abs() / scale - torch.log(2 * scale)
        ref = torch.distributions.Laplace(loc, scale)
    torch.testing.assert_close(lp, closed, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(lp, ref.log_prob(raw), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(dist.entropy(), ref.entropy(), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(reduce_log_prob(lp, "chunk"), closed.sum((1, 2)), atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("kind", ["gaussian", "laplace"])
def test_continuous_samples_have_the_right_moments_and_are_clipped(kind):
    n = 50_000
    mean = torch.full((n, 1, 2), 0.2)
    log_scale = torch.full((n, 1, 2), math.log(0.1))
    dist = ContinuousDistribution(kind, mean, log_scale, LOW, HIGH, SPEC_LOW, SPEC_HIGH)
    s = dist.sample(torch.Generator().manual_seed(0))
    raw = s.raw_action.reshape(n, 2)
    loc = torch.tensor([0.2, 1.2])  # centre + 0.2 * half
    scale = torch.tensor([0.1, 0.1])
    std = scale * (1.0 if kind == "gaussian" else math.sqrt(2))
    assert torch.all((raw.mean(0) - loc).abs() < 5 * std / math.sqrt(n))
    assert torch.all((raw.std(0) / std - 1).abs() < 0.02)
    # executed action = clip(raw) to the spec limits; dimension 1 (loc 1.2, limit 1.5) gets clipped sometimes
    torch.testing.assert_close(s.action, torch.maximum(torch.minimum(s.raw_action, SPEC_HIGH), SPEC_LOW))
    assert (s.action[..., 1] == 1.5).any() and s.action[..., 1].max() <= 1.5
    torch.testing.assert_close(s.log_prob, dist.score_raw(s.raw_action))


def test_bad_temperature_and_granularity_are_refused():
    out = {"logits": torch.zeros(1, 1, 2, 3)}
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ConfigError, match="temperature"):
            make_distribution("token", out, LOW, HIGH, SPEC_LOW, SPEC_HIGH, bad)
    with pytest.raises(ConfigError, match="granularity"):
        reduce_log_prob(torch.zeros(1, 1, 1), "episode")


def test_token_log_prob_without_tokens_scores_the_tokenized_action():
    torch.manual_seed(2)
    dist = TokenDistribution(torch.randn(1, 2, 2, 5), LOW, HIGH, SPEC_LOW, SPEC_HIGH)
    action = torch.tensor([[[0.5, 1.0], [-1.0, 0.0]]])
    tokens = tokenize_actions(action, LOW, HIGH, 5)
    np.testing.assert_allclose(dist.log_prob(PolicySample(action, torch.zeros(0))).numpy(), dist.score_tokens(tokens).numpy())
