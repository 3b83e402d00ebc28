"""Known-answer tests for the KL estimators and the Monte-Carlo entropy estimate."""

import math

import pytest
import torch

from robot_rl.algorithms.kl import entropy_mc, kl_divergence
from robot_rl.errors import AlgorithmError


def test_estimators_known_values():
    logp = torch.log(torch.tensor([0.5, 0.25]))
    ref = torch.log(torch.tensor([0.25, 0.5]))
    log_r = torch.tensor([-math.log(2), math.log(2)])  # log ref/p
    torch.testing.assert_close(kl_divergence(logp, ref, "k1"), -log_r)
    torch.testing.assert_close(kl_divergence(logp, ref, "k2"), 0.5 * log_r ** 2)
    expected_k3 = torch.tensor([0.5 - 1 + math.log(2), 2 - 1 - math.log(2)])
    torch.testing.assert_close(kl_divergence(logp, ref, "k3"), expected_k3)
    assert (kl_divergence(logp, ref, "k3") >= 0).all()
    torch.testing.assert_close(kl_divergence(logp, logp, "k3"), torch.zeros(2))


def test_k1_and_k3_are_unbiased_for_a_categorical():
    p = torch.tensor([0.7, 0.2, 0.1])
    q = torch.tensor([0.4, 0.4, 0.2])
    true_kl = float((p * (p / q).log()).sum())
    x = torch.multinomial(p, 200_000, replacement=True, generator=torch.Generator().manual_seed(0))
    for est in ("k1", "k3"):
        est_kl = kl_divergence(p.log()[x], q.log()[x], est).mean().item()
        assert est_kl == pytest.approx(true_kl, abs=5e-3)


def test_k3_gradient_pulls_towards_reference():
    logp = torch.tensor([0.0], requires_grad=True)
    kl_divergence(logp, torch.tensor([-1.0]), "k3").sum().backward()
    assert logp.grad.item() == pytest.approx(1 - math.exp(-1.0))  # d/dlogp: 1 - exp(ref - logp) > 0


def test_unknown_estimator_and_shape_mismatch():
    with pytest.raises(AlgorithmError, match="k1, k2, k3"):
        kl_divergence(torch.zeros(2), torch.zeros(2), "k4")
    with pytest.raises(AlgorithmError, match="same shape"):
        kl_divergence(torch.zeros(2), torch.zeros(3))


def test_entropy_mc_masks_samples():
    lp = torch.tensor([[-1.0, -3.0], [-10.0, -10.0]])
    assert entropy_mc(lp).item() == pytest.approx(6.0)
    assert entropy_mc(lp, torch.tensor([True, False])).item() == pytest.approx(2.0)


def test_k1_is_refused_as_a_loss_and_kept_as_a_diagnostic():
    """k1's gradient is grad log pi_theta whatever the reference: a config with kl_coef > 0 and k1 is an error."""
    from robot_rl.algorithms.loop import LoopConfig

    logp = torch.tensor([-1.0, -2.0], requires_grad=True)
    for ref in (torch.tensor([-1.0, -2.0]), torch.tensor([-5.0, 0.0])):
        logp.grad = None
        kl_divergence(logp, ref, "k1").sum().backward()
        torch.testing.assert_close(logp.grad, torch.ones(2))  # the same pull whatever the reference
    with pytest.raises(ValueError, match=r"kl_estimator: got 'k1'.*allowed with kl_coef > 0: k2, k3"):
        LoopConfig(kl_coef=0.1, kl_estimator="k1")
    assert LoopConfig(kl_coef=0.0, kl_estimator="k1").kl_estimator == "k1"  # no loss: harmless
    for est in ("k2", "k3"):
        assert LoopConfig(kl_coef=0.1, kl_estimator=est).kl_estimator == est
