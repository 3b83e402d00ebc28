"""Diagnostics of the LOOP update: running means over microbatches, merged across ranks.

Ratios and approx-KL are weighted by the valid elements of each microbatch, losses by their
share of the loss denominator, gradient norms by optimiser step. Metric keys are namespaced
like CleanRL's (``losses/``, ``charts/``); :meth:`LoopStats.metrics` lists them.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import torch

from robot_rl.algorithms.kl import entropy_mc, kl_divergence
from robot_rl.algorithms.loop_batching import BatchRows
from robot_rl.algorithms.ppo import Aggregation, aggregate


class RunningMeans:
    """Running weighted means of named statistics, plus min/max for the ratio extremes."""

    def __init__(self) -> None:
        self.total: dict[str, float] = defaultdict(float)
        self.weight: dict[str, float] = defaultdict(float)
        self.low = math.inf
        self.high = -math.inf

    def add(self, name: str, value: float, weight: float = 1.0) -> None:
        self.total[name] += value * weight
        self.weight[name] += weight

    def get(self, name: str, default: float = 0.0) -> float:
        return self.total[name] / self.weight[name] if self.weight.get(name) else default

    def merge(self, parts: list[tuple[dict[str, float], dict[str, float], float, float]]) -> None:
        """Replace the sums by those of several ranks' ``(total, weight, low, high)``."""
        self.total, self.weight = defaultdict(float), defaultdict(float)
        for total, weight, low, high in parts:
            for k, v in total.items():
                self.total[k] += v
                self.weight[k] += weight[k]
            self.low, self.high = min(self.low, low), max(self.high, high)


class LoopStats:
    """Everything :func:`~robot_rl.algorithms.loop.loop_update` reports, accumulated as it runs."""

    def __init__(self, aggregation: Aggregation) -> None:
        self.aggregation = aggregation
        self.means = RunningMeans()
        self.epoch_kl = RunningMeans()  # this epoch's approx_kl (for target_kl)
        self.optimizer_steps = 0
        self.skipped_steps = 0
        self.epochs_run = 0
        self.grad_norm_max = 0.0

    def new_epoch(self) -> None:
        self.epoch_kl = RunningMeans()

    def epoch_approx_kl(self) -> tuple[float, float]:
        """(weighted sum, weight) of this epoch's approx_kl on this rank."""
        return self.epoch_kl.total["approx_kl"], self.epoch_kl.weight["approx_kl"]

    @torch.no_grad()
    def add_microbatch(self, pg: dict[str, torch.Tensor], loss: torch.Tensor, new_logp: torch.Tensor,
                       elem_mask: torch.Tensor, kl_ref: torch.Tensor | None = None,
                       ref_logp: torch.Tensor | None = None, entropy: torch.Tensor | None = None) -> None:
        """One microbatch's figures: ``pg`` from :func:`~robot_rl.algorithms.ppo.ppo_loss`, the total loss,
        log pi_theta (for the Monte-Carlo entropy), and the KL / entropy terms when they are in the loss."""
        m = self.means
        weight = float(pg["weight"])
        if kl_ref is not None:
            assert ref_logp is not None
            m.add("losses/kl_ref", float(kl_ref.detach()), weight)
            # k1 as a diagnostic only (see LoopConfig._kl_estimator_is_a_loss)
            kl_k1, _ = aggregate(kl_divergence(new_logp, ref_logp, "k1"), elem_mask, self.aggregation)
            m.add("losses/kl_ref_k1", float(kl_k1), weight)
        if entropy is not None:
            m.add("losses/entropy", float(entropy.detach()), weight)
        n_valid = float(pg["num_valid"])
        m.add("losses/pg_loss", float(pg["pg_loss"]), weight)
        m.add("losses/total", float(loss.detach()), weight)
        for key in ("approx_kl", "approx_kl_k1"):
            m.add(f"losses/{key}", float(pg[key]), n_valid)
        for key in ("clipfrac", "clipfrac_low", "clipfrac_high", "dual_clipfrac", "ratio_mean"):
            m.add(f"charts/{key}", float(pg[key]), n_valid)
        m.add("charts/entropy", float(entropy_mc(new_logp, elem_mask)), n_valid)  # per element, MC
        self.epoch_kl.add("approx_kl", float(pg["approx_kl"]), n_valid)
        if n_valid > 0:
            m.low = min(m.low, float(pg["ratio_min"]))
            m.high = max(m.high, float(pg["ratio_max"]))

    def add_step(self, grad_norm: float) -> None:
        """An optimiser step taken with this gradient norm (before clipping)."""
        self.optimizer_steps += 1
        self.means.add("charts/grad_norm", grad_norm)
        self.grad_norm_max = max(self.grad_norm_max, grad_norm)

    def metrics(self, rows: BatchRows, optimizer: torch.optim.Optimizer) -> dict[str, float]:
        """The update's metrics over the global batch (the same on every rank)."""
        m = self.means
        if rows.dp is not None:
            # grad_norm is already global (computed after the reduction); counted once, on rank 0's terms.
            local: Any = ({k: v for k, v in m.total.items() if not k.startswith("charts/grad_norm")},
                          {k: v for k, v in m.weight.items() if not k.startswith("charts/grad_norm")},
                          m.low, m.high)
            norms = (m.total["charts/grad_norm"], m.weight["charts/grad_norm"])
            m.merge(rows.dp.all_gather_object(local))
            if norms[1]:
                m.total["charts/grad_norm"], m.weight["charts/grad_norm"] = norms
        adv_valid = rows.adv_global[rows.mask_global.to(rows.adv_global.device)]
        metrics = {key: m.get(key) for key in m.total}
        metrics.update({
            "charts/ratio_min": m.low if math.isfinite(m.low) else 1.0,
            "charts/ratio_max": m.high if math.isfinite(m.high) else 1.0,
            "charts/advantage_mean": float(adv_valid.mean()) if adv_valid.numel() else 0.0,
            "charts/advantage_std": float(adv_valid.std(unbiased=False)) if adv_valid.numel() else 0.0,
            "charts/grad_norm_max": self.grad_norm_max,
            "charts/optimizer_steps": float(self.optimizer_steps),
            "charts/skipped_steps": float(self.skipped_steps),
            "charts/ppo_epochs_run": float(self.epochs_run),
            "charts/policy_steps": float(rows.mask_global.sum()),
        })
        for group in optimizer.param_groups:
            metrics[f"charts/lr_{group.get('name', 'group')}"] = float(group["lr"])
        return metrics
