"""loop_update on a tiny real torch policy that implements the policy interface (sample / log_prob / param_groups)."""

import copy
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

from robot_rl.algorithms.advantages import per_step_advantages
from robot_rl.algorithms.kl import kl_divergence
from robot_rl.algorithms.loop import LoopBatch, LoopConfig, loop_advantages, loop_update, make_optimizer
from robot_rl.algorithms.ppo import reduce_log_prob
from robot_rl.config import validate_config
from robot_rl.errors import AlgorithmError, ConfigError

N_BINS, HORIZON, ACT_DIM, PROPRIO = 5, 2, 3, 4


@dataclass
class PolicySample:
    action: torch.Tensor  # (B, H, A)
    tokens: torch.Tensor | None  # (B, H, A)
    raw_action: torch.Tensor | None
    log_prob: torch.Tensor  # (B, H, A), per dimension


class TinyTokenPolicy(nn.Module):
    """A categorical-per-dimension (tokenized) policy over proprio and the mean image brightness."""

    def __init__(self, seed: int = 0, hidden: int = 16):
        super().__init__()
        torch.manual_seed(seed)
        self.backbone = nn.Sequential(nn.Linear(PROPRIO + 1, hidden), nn.Tanh())
        self.head = nn.Linear(hidden, HORIZON * ACT_DIM * N_BINS)

    def _logits(self, obs, temperature):
        img = torch.as_tensor(obs["images"]["agentview"]).float().mean(dim=(1, 2, 3)) / 255.0  # (B,)
        x = torch.cat([torch.as_tensor(obs["proprio"]).float(), img[:, None]], dim=1)  # (B, D + 1)
        return self.head(self.backbone(x)).view(-1, HORIZON, ACT_DIM, N_BINS) / temperature  # (B, H, A, bins)

    @torch.no_grad()
    def sample(self, obs, temperature=1.0):
        logits = self._logits(obs, temperature)
        tokens = torch.distributions.Categorical(logits=logits).sample()  # (B, H, A)
        log_prob = torch.log_softmax(logits, -1).gather(-1, tokens[..., None]).squeeze(-1)
        return PolicySample(tokens.float() / (N_BINS - 1) * 2 - 1, tokens, None, log_prob)

    def log_prob(self, obs, sample, temperature=1.0, granularity="token"):
        logp = torch.log_softmax(self._logits(obs, temperature), -1)
        per_dim = logp.gather(-1, sample.tokens.long()[..., None]).squeeze(-1)  # (B, H, A)
        return reduce_log_prob(per_dim, granularity)

    def param_groups(self):
        return {"backbone": list(self.backbone.parameters()), "head": list(self.head.parameters())}

    def distribution(self, obs, temperature=1.0):
        return _TokenDist(self._logits(obs, temperature))


class _TokenDist:
    def __init__(self, logits):
        self.logp = torch.log_softmax(logits, -1)  # (B, H, A, bins)

    def log_prob(self, sample):
        return self.logp.gather(-1, sample.tokens.long()[..., None]).squeeze(-1)  # (B, H, A)

    def entropy(self):
        return -(self.logp.exp() * self.logp).sum(-1)  # (B, H, A)


def _obs(n, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "images": {"agentview": rng.integers(0, 255, size=(n, 8, 8, 3), dtype=np.uint8)},
        "proprio": torch.as_tensor(rng.normal(size=(n, PROPRIO)), dtype=torch.float32),
        "instruction": ["pick"] * n,
    }


def _batch(policy, n=64, seed=0, temperature=1.0):
    """One policy step per episode; reward = 1 when the first token is in the top half (a learnable rule)."""
    torch.manual_seed(seed)
    obs = _obs(n, seed)
    sample = policy.sample(obs, temperature)
    rewards = (sample.tokens[:, 0, 0] >= N_BINS // 2).float().reshape(-1, 8)  # (G, K)
    adv = per_step_advantages(loop_advantages(rewards, LoopConfig(group_size=8)), torch.ones(n))
    return LoopBatch(obs=obs, sample=sample, advantages=adv, mask=torch.ones(n, dtype=torch.bool))


def _cfg(**kw):
    base = dict(ppo_epochs=1, minibatch_size=64, lr_backbone=1e-2, lr_head=5e-2, max_grad_norm=None)
    base.update(kw)
    return LoopConfig(**base)


def test_first_update_sees_ratio_one_and_no_clipping():
    policy = TinyTokenPolicy()
    batch = _batch(policy)
    stats = loop_update(policy, make_optimizer(policy, _cfg()), batch, _cfg())
    assert stats["charts/ratio_mean"] == pytest.approx(1.0, abs=1e-6)
    assert stats["charts/clipfrac"] == 0.0
    assert stats["losses/approx_kl"] == pytest.approx(0.0, abs=1e-9)
    assert stats["charts/optimizer_steps"] == 1.0 and stats["charts/ppo_epochs_run"] == 1.0
    assert stats["charts/entropy"] > 0
    assert {"losses/pg_loss", "charts/grad_norm", "charts/lr_backbone", "charts/lr_head"} <= set(stats)


def test_epochs_raise_probability_of_positive_advantage_steps_and_clip():
    policy = TinyTokenPolicy()
    batch = _batch(policy)
    cfg = _cfg(ppo_epochs=8, minibatch_size=16)
    before = policy.log_prob(batch.obs, batch.sample, granularity="chunk").detach()
    stats = loop_update(policy, make_optimizer(policy, cfg), batch, cfg, generator=torch.Generator().manual_seed(0))
    after = policy.log_prob(batch.obs, batch.sample, granularity="chunk").detach()
    pos, neg = batch.advantages > 0, batch.advantages < 0
    assert pos.any() and neg.any()
    assert (after - before)[pos].mean() > 0.05  # good actions became more likely
    assert (after - before)[neg].mean() < -0.05  # bad actions less likely
    assert stats["charts/clipfrac"] > 0  # later epochs move past the trust region
    assert stats["charts/optimizer_steps"] == 8 * 4
    assert stats["losses/approx_kl"] > 0
    # The surrogate objective of the final policy is better (lower loss) than at the start (0).
    ratio = (after - before).exp()
    assert float((-batch.advantages * ratio).mean()) < -0.01


@pytest.mark.parametrize("granularity", ["token", "action", "chunk"])
def test_every_granularity_runs(granularity):
    policy = TinyTokenPolicy()
    batch = _batch(policy)
    cfg = _cfg(granularity=granularity, ppo_epochs=2, minibatch_size=32)
    stats = loop_update(policy, make_optimizer(policy, cfg), batch, cfg)
    assert all(np.isfinite(v) for v in stats.values())
    assert stats["charts/optimizer_steps"] == 4


@pytest.mark.parametrize("aggregation", ["token-mean", "seq-mean-token-sum", "seq-mean-token-mean"])
def test_microbatches_give_the_same_update_as_one_pass(aggregation):
    results = []
    for micro in (None, 5):
        policy = TinyTokenPolicy(seed=1)
        batch = _batch(policy, seed=1)
        batch.mask[::7] = False  # some padding so the denominators differ between microbatches
        cfg = _cfg(aggregation=aggregation, ppo_epochs=2, minibatch_size=16, microbatch_size=micro, shuffle=False)
        opt = torch.optim.SGD(policy.parameters(), lr=0.5)
        loop_update(policy, opt, batch, cfg)
        results.append(torch.cat([p.detach().flatten() for p in policy.parameters()]))
    torch.testing.assert_close(results[0], results[1], atol=1e-6, rtol=1e-5)


def test_masked_steps_do_not_move_the_policy():
    policy = TinyTokenPolicy()
    batch = _batch(policy)
    batch.mask[:] = False
    cfg = _cfg()
    head_before = policy.head.weight.detach().clone()
    stats = loop_update(policy, make_optimizer(policy, cfg), batch, cfg)
    torch.testing.assert_close(policy.head.weight, head_before)
    assert stats["charts/optimizer_steps"] == 0 and stats["charts/policy_steps"] == 0


def _executed_variant(batch, seed=3):
    """The batch with random executed counts, and a copy whose unexecuted actions (tokens and their
    sampling log-probs) are replaced by other values: what never ran must not matter."""
    g = torch.Generator().manual_seed(seed)
    n = len(batch)
    executed = torch.randint(1, HORIZON + 1, (n,), generator=g)
    executed[0] = 1  # at least one cut-short chunk
    cut = torch.arange(HORIZON)[None, :] >= executed[:, None]  # (N, H) unexecuted
    tokens = batch.sample.tokens.clone()
    other = (tokens + 1 + torch.randint(0, N_BINS - 1, tokens.shape, generator=g)) % N_BINS  # a different bin
    tokens[cut] = other[cut]
    log_prob = batch.sample.log_prob.clone()
    log_prob[cut] = -0.01 - 3 * torch.rand(log_prob[cut].shape, generator=g)  # any value: must not be read
    changed = PolicySample(batch.sample.action, tokens, None, log_prob)
    a = LoopBatch(batch.obs, batch.sample, batch.advantages, batch.mask, executed=executed)
    b = LoopBatch(batch.obs, changed, batch.advantages, batch.mask, executed=executed)
    return a, b


def _params_after(batch, cfg, seed=0):
    policy = TinyTokenPolicy(seed=seed)
    stats = loop_update(policy, torch.optim.SGD(policy.parameters(), lr=0.5), batch, cfg)
    return torch.cat([p.detach().flatten() for p in policy.parameters()]), stats


@pytest.mark.parametrize("granularity", ["token", "action", "chunk"])
@pytest.mark.parametrize("aggregation", ["token-mean", "seq-mean-token-sum"])
def test_unexecuted_actions_earn_no_credit(granularity, aggregation):
    a, b = _executed_variant(_batch(TinyTokenPolicy()))
    cfg = _cfg(granularity=granularity, aggregation=aggregation, ppo_epochs=2, minibatch_size=16, shuffle=False)
    pa, stats = _params_after(a, cfg)
    pb, _ = _params_after(b, cfg)
    torch.testing.assert_close(pa, pb, atol=1e-6, rtol=1e-5)  # the unexecuted tail is never read
    assert stats["charts/ratio_mean"] == pytest.approx(1.0, abs=0.5) and stats["charts/optimizer_steps"] == 8
    # Control: without `executed` the tail counts, so the same two batches give different updates.
    pa_all, _ = _params_after(LoopBatch(a.obs, a.sample, a.advantages, a.mask), cfg)
    pb_all, _ = _params_after(LoopBatch(b.obs, b.sample, b.advantages, b.mask), cfg)
    assert (pa_all - pb_all).abs().max() > 1e-4


@pytest.mark.parametrize("granularity", ["token", "chunk"])
def test_fully_executed_chunks_update_as_without_executed(granularity):
    batch = _batch(TinyTokenPolicy())
    cfg = _cfg(granularity=granularity, ppo_epochs=2, minibatch_size=16, shuffle=False)
    full = LoopBatch(batch.obs, batch.sample, batch.advantages, batch.mask,
                     executed=torch.full((len(batch),), HORIZON))
    torch.testing.assert_close(_params_after(full, cfg)[0], _params_after(batch, cfg)[0], atol=1e-6, rtol=1e-5)


def test_token_mean_denominator_counts_executed_elements_only():
    # One step per row, advantage +1, SGD on the first epoch (ratio 1): the token-mean loss is
    # -(sum of valid log-probs) / (valid elements), so its gradient is that of the mean over executed tokens.
    policy = TinyTokenPolicy()
    batch = _batch(policy, n=16)
    batch.advantages = torch.ones(16)
    executed = torch.tensor([1, 2] * 8)
    cut = LoopBatch(batch.obs, batch.sample, batch.advantages, batch.mask, executed=executed)
    cfg = _cfg(minibatch_size=16)
    ref = TinyTokenPolicy()
    per_dim = ref.log_prob(batch.obs, batch.sample)  # (N, H, A)
    valid = (torch.arange(HORIZON)[None, :] < executed[:, None])[..., None].expand_as(per_dim)
    (-(per_dim * valid).sum() / valid.sum()).backward()
    expected = [p.detach() - 0.5 * p.grad for p in ref.parameters()]
    policy = TinyTokenPolicy()
    loop_update(policy, torch.optim.SGD(policy.parameters(), lr=0.5), cut, cfg)
    for got, want in zip(policy.parameters(), expected):
        torch.testing.assert_close(got.detach(), want, atol=1e-6, rtol=1e-5)


def test_microbatches_with_cut_chunks_give_the_same_update():
    results = []
    for micro in (None, 5):
        a, _ = _executed_variant(_batch(TinyTokenPolicy(seed=1), seed=1))
        a.mask[::7] = False
        cfg = _cfg(ppo_epochs=2, minibatch_size=16, microbatch_size=micro, shuffle=False)
        results.append(_params_after(a, cfg, seed=1)[0])
    torch.testing.assert_close(results[0], results[1], atol=1e-6, rtol=1e-5)


def test_gradient_clipping_bounds_the_step():
    policy = TinyTokenPolicy()
    batch = _batch(policy)
    cfg = _cfg(max_grad_norm=1e-3)
    before = torch.cat([p.detach().flatten() for p in policy.parameters()])
    stats = loop_update(policy, torch.optim.SGD(policy.parameters(), lr=1.0), batch, cfg)
    after = torch.cat([p.detach().flatten() for p in policy.parameters()])
    assert stats["charts/grad_norm"] > 1e-3  # reported before clipping
    assert float((after - before).norm()) == pytest.approx(1e-3, rel=1e-3)


def test_separate_learning_rates():
    policy = TinyTokenPolicy()
    batch = _batch(policy)
    cfg = _cfg(lr_backbone=0.0, lr_head=1e-2)
    opt = make_optimizer(policy, cfg)
    assert [(g["name"], g["lr"]) for g in opt.param_groups] == [("backbone", 0.0), ("head", 1e-2)]
    backbone = policy.backbone[0].weight.detach().clone()
    head = policy.head.weight.detach().clone()
    stats = loop_update(policy, opt, batch, cfg)
    torch.testing.assert_close(policy.backbone[0].weight, backbone)
    assert not torch.equal(policy.head.weight, head)
    assert stats["charts/lr_head"] == 1e-2 and stats["charts/lr_backbone"] == 0.0


def test_kl_to_reference_holds_the_policy_back():
    moved = []
    for kl_coef in (0.0, 5.0):
        policy = TinyTokenPolicy()
        ref = copy.deepcopy(policy).requires_grad_(False)
        batch = _batch(policy)
        cfg = _cfg(ppo_epochs=6, minibatch_size=16, kl_coef=kl_coef, clip_low=0.9, clip_high=10.0)
        stats = loop_update(policy, make_optimizer(policy, cfg), batch, cfg, ref_policy=ref,
                            generator=torch.Generator().manual_seed(0))
        new = policy.log_prob(batch.obs, batch.sample).detach()
        old = ref.log_prob(batch.obs, batch.sample).detach()
        moved.append(float(kl_divergence(old, new, "k3").mean()))  # KL(ref || policy) on the ref's samples
        if kl_coef > 0:
            assert stats["losses/kl_ref"] > 0
            assert stats["losses/total"] > stats["losses/pg_loss"]
    assert moved[1] < 0.5 * moved[0]


@pytest.mark.parametrize("granularity", ["token", "action", "chunk"])
def test_entropy_coef_penalty_sharpens_and_bonus_flattens(granularity):
    entropy = {}
    for coef in (-0.5, 0.0, 0.5):
        policy = TinyTokenPolicy()
        batch = _batch(policy)
        batch.advantages = torch.zeros_like(batch.advantages)  # no policy-gradient signal: only the entropy term
        cfg = _cfg(ppo_epochs=4, minibatch_size=16, entropy_coef=coef, granularity=granularity)
        stats = loop_update(policy, make_optimizer(policy, cfg), batch, cfg, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            entropy[coef] = float(policy.distribution(batch.obs).entropy().mean())
        assert ("losses/entropy" in stats) == (coef != 0)
    assert entropy[-0.5] < entropy[0.0] - 0.01 and entropy[0.5] > entropy[0.0] + 0.01
    with torch.no_grad():
        untouched = float(TinyTokenPolicy().distribution(_batch(TinyTokenPolicy()).obs).entropy().mean())
    assert entropy[0.0] == pytest.approx(untouched, abs=1e-6)  # A = 0 alone moves nothing


def test_entropy_coef_needs_a_distribution():
    class LogProbOnly:  # the bare LoopPolicy protocol: log_prob and param_groups
        def __init__(self, policy):
            self.log_prob, self.param_groups = policy.log_prob, policy.param_groups

    inner = TinyTokenPolicy()
    policy = LogProbOnly(inner)
    cfg = _cfg(entropy_coef=-0.1)
    with pytest.raises(AlgorithmError, match="entropy_coef != 0 needs a policy with distribution"):
        loop_update(policy, make_optimizer(policy, cfg), _batch(inner), cfg)


def test_kl_needs_a_reference():
    policy = TinyTokenPolicy()
    cfg = _cfg(kl_coef=0.1)
    with pytest.raises(AlgorithmError, match="ref_log_prob or a ref_policy"):
        loop_update(policy, make_optimizer(policy, cfg), _batch(policy), cfg)


def test_target_kl_stops_epochs_early():
    policy = TinyTokenPolicy()
    batch = _batch(policy)
    cfg = _cfg(ppo_epochs=10, minibatch_size=8, target_kl=1e-6)
    stats = loop_update(policy, make_optimizer(policy, cfg), batch, cfg)
    assert stats["charts/ppo_epochs_run"] == 1.0


def test_bad_batches_are_refused():
    policy = TinyTokenPolicy()
    batch = _batch(policy)
    cfg = _cfg()
    opt = make_optimizer(policy, cfg)
    with pytest.raises(AlgorithmError, match="advantages must be"):
        loop_update(policy, opt, LoopBatch(batch.obs, batch.sample, batch.advantages[:, None]), cfg)
    with pytest.raises(AlgorithmError, match="mask must be"):
        loop_update(policy, opt, LoopBatch(batch.obs, batch.sample, batch.advantages, batch.mask[:3]), cfg)
    with pytest.raises(AlgorithmError, match="executed must be"):
        loop_update(policy, opt, LoopBatch(batch.obs, batch.sample, batch.advantages, executed=torch.ones(3)), cfg)
    with pytest.raises(AlgorithmError, match="executed must count"):
        loop_update(policy, opt, LoopBatch(batch.obs, batch.sample, batch.advantages,
                                           executed=torch.full((len(batch),), HORIZON + 1)), cfg)
    short = dict(batch.obs, instruction=["pick"])
    with pytest.raises(AlgorithmError, match="instruction"):
        loop_update(policy, opt, LoopBatch(short, batch.sample, batch.advantages), cfg)
    nan_adv = batch.advantages.clone()
    nan_adv[0] = float("nan")
    with pytest.raises(AlgorithmError, match="NaN"):
        loop_update(policy, opt, LoopBatch(batch.obs, batch.sample, nan_adv), cfg)
    with pytest.raises(AlgorithmError, match="group_size"):
        loop_advantages(torch.zeros(2, 4), LoopConfig(group_size=8))


def test_wrong_log_prob_shape_from_policy_is_named():
    policy = TinyTokenPolicy()
    batch = _batch(policy)

    class Wrong(TinyTokenPolicy):
        def log_prob(self, obs, sample, temperature=1.0, granularity="token"):
            return super().log_prob(obs, sample, temperature, "chunk")

    wrong = Wrong()
    with pytest.raises(AlgorithmError, match="granularity='token'"):
        loop_update(wrong, make_optimizer(wrong, _cfg()), batch, _cfg())


def test_config_validation_names_the_field():
    with pytest.raises(ConfigError, match="clip_low"):
        validate_config(LoopConfig, {"clip_low": 1.5})
    with pytest.raises(ConfigError, match="granularity"):
        validate_config(LoopConfig, {"granularity": "episode"})
    with pytest.raises(ConfigError, match="microbatch_size"):
        validate_config(LoopConfig, {"minibatch_size": 4, "microbatch_size": 8})
    with pytest.raises(ConfigError, match="unknown key"):
        validate_config(LoopConfig, {"clipp": 0.2})
    cfg = validate_config(LoopConfig, {"clip_high": 0.28, "advantage": "grpo", "dual_clip": 3.0})
    assert cfg.clip_high == 0.28 and cfg.advantage == "grpo"


def test_temperature_reaches_the_policy():
    policy = TinyTokenPolicy()
    batch = _batch(policy, temperature=2.0)
    same = loop_update(policy, torch.optim.SGD(policy.parameters(), lr=0.0), batch, _cfg(temperature=2.0))
    other = loop_update(policy, torch.optim.SGD(policy.parameters(), lr=0.0), batch, _cfg(temperature=1.0))
    assert same["charts/ratio_mean"] == pytest.approx(1.0, abs=1e-6)
    assert abs(other["charts/ratio_max"] - 1.0) > 0.05  # scoring at another temperature breaks the ratio


def test_index_sample_handles_dataclass_namedtuple_and_dict():
    from typing import NamedTuple

    from robot_rl.algorithms.loop import index_sample

    class Sample(NamedTuple):
        action: torch.Tensor
        tokens: torch.Tensor | None

    idx = torch.tensor([2, 0])
    x = torch.arange(3)[:, None].float()
    assert index_sample(Sample(x, None), idx, 3).action.flatten().tolist() == [2.0, 0.0]
    assert index_sample(Sample(x, None), idx, 3).tokens is None
    out = index_sample({"action": x, "meta": "keep", "ids": [10, 11, 12]}, idx, 3)
    assert out["action"].flatten().tolist() == [2.0, 0.0] and out["meta"] == "keep" and out["ids"] == [12, 10]
    with pytest.raises(AlgorithmError, match="dataclass, NamedTuple or dict"):
        index_sample(x, idx, 3)
