"""loop_update driving the project's real tiny VLA (robot_rl.policies) for each action-head kind."""

import numpy as np
import pytest
import torch

from robot_rl.algorithms.loop import LoopBatch, LoopConfig, loop_update, make_optimizer
from robot_rl.errors import ConfigError
from robot_rl.policies import make_policy
from robot_rl.spec import EmbodimentSpec, load_spec

SMALL = {"d_model": 32, "n_layers": 1, "n_heads": 2, "cnn_channels": [8, 8, 16], "image_grid": 2,
         "max_instruction_length": 16}


def _spec() -> EmbodimentSpec:
    d = load_spec("tabletop").to_dict()
    d["cameras"] = [{"name": "agentview", "height": 32, "width": 32}, {"name": "wrist", "height": 32, "width": 32}]
    d["chunk_length"] = 4
    return EmbodimentSpec.from_dict(d)


def _obs(spec: EmbodimentSpec, n: int, seed: int, instruction: str) -> dict:
    rng = np.random.default_rng(seed)
    return {"images": {c.name: rng.integers(0, 256, (n, c.height, c.width, 3), dtype=np.uint8) for c in spec.cameras},
            "proprio": rng.normal(size=(n, spec.proprio_dim)).astype(np.float32),
            "instruction": [instruction] * n}


@pytest.mark.parametrize("kind", ["token", "gaussian", "laplace"])
def test_loop_update_on_the_tiny_vla(kind):
    spec = _spec()
    torch.manual_seed(0)
    head = {"kind": kind, "bins": 32} if kind == "token" else {"kind": kind}
    policy = make_policy("tiny", spec, {**SMALL, "head": head}).eval()  # eval: no dropout, ratios start at 1
    n = 16
    obs = _obs(spec, n, seed=0, instruction="pick up the red cube")
    sample = policy.sample(obs, temperature=1.0, generator=torch.Generator().manual_seed(0))
    adv = torch.tensor([1.0, -1.0] * (n // 2))
    cfg = LoopConfig(ppo_epochs=3, minibatch_size=16, lr_backbone=1e-4, lr_head=1e-3, granularity="action")
    before = policy.log_prob(obs, sample, granularity="chunk").detach()
    stats = loop_update(policy, make_optimizer(policy, cfg), LoopBatch(obs, sample, adv), cfg,
                        generator=torch.Generator().manual_seed(0))
    after = policy.log_prob(obs, sample, granularity="chunk").detach()
    assert stats["charts/optimizer_steps"] == 3
    assert all(np.isfinite(v) for v in stats.values())
    assert (after - before)[adv > 0].mean() > 0 > (after - before)[adv < 0].mean()


@pytest.mark.parametrize("kind", ["token"])
def test_entropy_penalty_sharpens_the_tiny_vla(kind):
    """entropy_coef < 0 with no advantage signal lowers the real policy's exact entropy (the quickstart's penalty)."""
    spec = _spec()
    torch.manual_seed(0)
    head = {"kind": kind, "bins": 32} if kind == "token" else {"kind": kind}
    policy = make_policy("tiny", spec, {**SMALL, "head": head}).eval()
    n = 16
    obs = _obs(spec, n, seed=1, instruction="pick up the blue cube")
    sample = policy.sample(obs, temperature=0.5, generator=torch.Generator().manual_seed(0))
    cfg = LoopConfig(ppo_epochs=3, minibatch_size=16, lr_backbone=1e-4, lr_head=1e-3, temperature=0.5,
                     entropy_coef=-0.1)
    before = float(policy.entropy(obs, 0.5).mean())
    stats = loop_update(policy, make_optimizer(policy, cfg), LoopBatch(obs, sample, torch.zeros(n)), cfg,
                        generator=torch.Generator().manual_seed(0))
    assert stats["losses/entropy"] == pytest.approx(before, rel=0.2)  # logged: the exact entropy, not the MC estimate
    assert float(policy.entropy(obs, 0.5).mean()) < before - 1e-3


@pytest.mark.parametrize("kind", ["gaussian", "laplace"])
@pytest.mark.parametrize("coef", [-0.05, 0.05])
def test_entropy_term_is_refused_for_scale_heads(kind, coef):
    """A Gaussian/Laplace head's entropy is c + log_scale: its gradient is the same whatever the reward, so an
    entropy term would only drive the scale to a clamp. loop_update refuses it before touching the policy."""
    spec = _spec()
    torch.manual_seed(0)
    policy = make_policy("tiny", spec, {**SMALL, "head": {"kind": kind}}).eval()
    n = 8
    obs = _obs(spec, n, seed=1, instruction="pick up the blue cube")
    sample = policy.sample(obs, generator=torch.Generator().manual_seed(0))
    # The defect: d entropy / d log_scale is 1 everywhere (per element), independent of obs and reward.
    out = policy.head_outputs(obs)
    log_scale = out["log_scale"].detach().requires_grad_(True)
    policy.distribution_from_outputs({"mean": out["mean"].detach(), "log_scale": log_scale}).entropy().sum().backward()
    torch.testing.assert_close(log_scale.grad, torch.ones_like(log_scale))

    cfg = LoopConfig(ppo_epochs=1, minibatch_size=8, entropy_coef=coef)
    before = [p.detach().clone() for p in policy.parameters()]
    with pytest.raises(ConfigError, match=rf"loop.entropy_coef: got {coef} with a {kind} head; allowed: 0"):
        loop_update(policy, make_optimizer(policy, cfg), LoopBatch(obs, sample, torch.zeros(n)), cfg)
    assert all(torch.equal(a, b) for a, b in zip(before, policy.parameters()))
