"""LOOP (Leave-One-Out PPO), the RL update of RIPT-VLA (Tan et al. 2025, arXiv 2505.17016).

One LOOP step, as in the paper's Algorithm 1:

1. sample B/K contexts; run K rollouts per context with the frozen sampling policy pi_psi and
   keep the stored per-dimension log-probs log pi_psi(a);                 (robot_rl.rollout)
2. reward R_k in {0, 1}; drop groups whose K rewards are all equal;       (rollout.schedule)
3. advantage A_k = R_k - mean_{j != k} R_j, copied to every policy step of rollout k;
                                                                          (algorithms.advantages)
4. N epochs of PPO over minibatches of the collected steps with ratio pi_theta / pi_psi
   clipped to [1 - eps_low, 1 + eps_high]                                 (this file: loop_update)

``loop_update`` does step 4 only: it reads a :class:`LoopBatch` and never touches an env
(collection and optimisation stay separate, as in Stable-Baselines3). See docs/loop.md.

Policy interface used here (robot_rl.policies)::

    policy.log_prob(obs, sample, temperature=1.0, granularity="token") -> (B, H, A) | (B, H) | (B,)
    policy.param_groups() -> {"backbone": [params], "head": [params]}
"""

from __future__ import annotations

import math

import numpy as np
import torch

from robot_rl.algorithms.advantages import group_advantages
from robot_rl.algorithms.kl import kl_divergence
from robot_rl.algorithms.loop_batch import LoopBatch, index_sample
from robot_rl.algorithms.loop_batching import BatchRows, DataParallel, clip_grad_norm
from robot_rl.algorithms.loop_config import SCALE_HEADS, LoopConfig, LoopPolicy, check_policy
from robot_rl.algorithms.loop_metrics import LoopStats
from robot_rl.algorithms.loop_scoring import (element_mask, policy_log_prob, reduce_executed, reference_log_prob,
                                              row_elements, score)
from robot_rl.algorithms.ppo import aggregate, ppo_loss
from robot_rl.errors import AlgorithmError

# The config, the policy protocol and the batch live beside the update; importing them from here keeps working.
__all__ = ["SCALE_HEADS", "LoopBatch", "LoopConfig", "LoopPolicy", "check_policy", "index_sample", "loop_advantages",
           "loop_update", "make_optimizer"]


def loop_advantages(rewards: torch.Tensor | np.ndarray, cfg: LoopConfig) -> torch.Tensor:
    """Advantages of (G, K) group rewards with the estimator the config selects, (G, K) -> (G, K)."""
    if torch.as_tensor(rewards).ndim == 2 and torch.as_tensor(rewards).shape[1] != cfg.group_size:
        raise AlgorithmError(f"rewards have {torch.as_tensor(rewards).shape[1]} rollouts per group; "
                             f"group_size is {cfg.group_size}")
    return group_advantages(rewards, cfg.advantage, eps=cfg.grpo_eps)


def make_optimizer(policy: LoopPolicy, cfg: LoopConfig) -> torch.optim.AdamW:
    """AdamW with the backbone at ``lr_backbone`` and the action head at ``lr_head``."""
    groups = policy.param_groups()
    unknown = set(groups) - {"backbone", "head"}
    if unknown:
        raise AlgorithmError(f"policy.param_groups() keys must be 'backbone' and 'head'; got extra {sorted(unknown)}")
    param_groups = []
    for name, lr in (("backbone", cfg.lr_backbone), ("head", cfg.lr_head)):
        params = [p for p in groups.get(name, []) if p.requires_grad]
        if params:
            param_groups.append({"params": params, "lr": lr, "name": name})
    if not param_groups:
        raise AlgorithmError("policy.param_groups() holds no trainable parameters")
    return torch.optim.AdamW(param_groups, betas=cfg.adam_betas, weight_decay=cfg.weight_decay)


def loop_update(
    policy: LoopPolicy,
    optimizer: torch.optim.Optimizer,
    batch: LoopBatch,
    cfg: LoopConfig,
    ref_policy: LoopPolicy | None = None,
    generator: torch.Generator | None = None,
    data_parallel: DataParallel | None = None,
) -> dict[str, float]:
    """Run ``cfg.ppo_epochs`` PPO epochs over ``batch``; return metrics with namespaced keys.

    :param policy: pi_theta, updated in place through ``optimizer``. Its train/eval mode is left
        as the caller set it: eval mode (no dropout) makes the first-epoch ratios exactly 1.
    :param optimizer: e.g. from :func:`make_optimizer`; its parameters are the ones clipped.
    :param batch: see :class:`LoopBatch`.
    :param ref_policy: frozen reference for the KL penalty (only used when ``kl_coef > 0`` and
        ``batch.ref_log_prob`` is None).
    :param generator: RNG for the minibatch permutation (None: torch's global RNG).
    :param data_parallel: run ``batch`` as this rank's part of a global batch (see
        :class:`DataParallel`); the returned metrics are those of the global batch on every rank.
    :return: ``losses/pg_loss``, ``losses/kl_ref`` (+ ``_k1``), ``losses/total``, ``losses/approx_kl``,
        ``losses/approx_kl_k1``, ``charts/clipfrac`` (+ ``_low``, ``_high``, ``dual_``),
        ``charts/ratio_mean/min/max``, ``charts/advantage_mean/std``, ``charts/entropy``,
        ``charts/grad_norm`` (before clipping, mean over optimiser steps), ``charts/grad_norm_max``,
        ``charts/optimizer_steps``, ``charts/skipped_steps`` (non-finite gradients),
        ``charts/ppo_epochs_run``, ``charts/policy_steps``, ``charts/lr_<group>``.
    """
    check_policy(policy, cfg)
    batch.validate()
    # log pi_psi(a) of the executed actions at the ratio granularity, fixed for all epochs.
    valid = batch.action_valid()  # (N, H) executed actions, or None = all
    old_logp = reduce_executed(batch.old_log_prob.detach().float().cpu(), cfg.granularity, valid)
    # Which rows count, their advantages and loss denominators, in the global batch (loop_batching).
    rows = BatchRows.of(batch.mask, batch.advantages, row_elements(valid, old_logp), data_parallel)
    ref_logp = reference_log_prob(ref_policy, batch, cfg, valid) if cfg.kl_coef > 0 else None  # log pi_ref(a)
    params = [p for group in optimizer.param_groups for p in group["params"]]
    stats = LoopStats(cfg.aggregation)
    for epoch in range(cfg.ppo_epochs):
        stats.new_epoch()
        for mb in rows.minibatches(cfg.minibatch_size, cfg.microbatch_size or cfg.minibatch_size,
                                   cfg.aggregation, cfg.shuffle, generator):
            optimizer.zero_grad(set_to_none=True)
            for idx in mb.micro:
                if idx is None:
                    # FSDP: forward and backward are collectives, so a rank out of rows runs a
                    # zero-weight pass on any row of its own to keep in step with the others.
                    (policy_log_prob(policy, batch.select(torch.zeros(1, dtype=torch.long)), cfg).float().sum()
                     * 0.0).backward()
                    continue
                micro = batch.select(idx)
                new_logp, new_entropy = score(policy, micro, cfg)  # log pi_theta(a) (+ its entropy)
                if new_logp.shape != old_logp[idx].shape:
                    raise AlgorithmError(f"policy.log_prob(granularity={cfg.granularity!r}) returned "
                                         f"{tuple(new_logp.shape)}; expected {tuple(old_logp[idx].shape)}")
                elem_mask = element_mask(rows.mask[idx], None if valid is None else valid[idx], new_logp)
                # Clipped surrogate: -min(r A, clip(r, 1 - eps_low, 1 + eps_high) A), r = pi_theta / pi_psi.
                pg_loss, pg = ppo_loss(new_logp, old_logp[idx], micro.advantages, elem_mask,
                                       clip_low=cfg.clip_low, clip_high=cfg.clip_high, dual_clip=cfg.dual_clip,
                                       log_ratio_clamp=cfg.log_ratio_clamp, aggregation=cfg.aggregation)
                loss = pg_loss
                kl_ref = entropy = None
                if ref_logp is not None:
                    kl_ref, _ = aggregate(kl_divergence(new_logp, ref_logp[idx], cfg.kl_estimator), elem_mask,
                                          cfg.aggregation)
                    loss = loss + cfg.kl_coef * kl_ref
                if new_entropy is not None:
                    entropy, _ = aggregate(new_entropy, elem_mask, cfg.aggregation)
                    loss = loss - cfg.entropy_coef * entropy
                weight = float(pg["weight"])
                if weight > 0 or rows.lockstep:
                    (loss * (weight / mb.weight)).backward()  # this part's share of the minibatch mean
                stats.add_microbatch(pg, loss, new_logp, elem_mask, kl_ref,
                                     None if ref_logp is None else ref_logp[idx], entropy)
            rows.reduce_gradients(params)
            grad_norm = clip_grad_norm(params, cfg.max_grad_norm)
            if not math.isfinite(grad_norm):
                stats.skipped_steps += 1  # a NaN/inf gradient would poison Adam's moments: skip the step
                optimizer.zero_grad(set_to_none=True)
                continue
            optimizer.step()
            stats.add_step(grad_norm)
        stats.epochs_run = epoch + 1
        approx_kl = rows.global_mean(*stats.epoch_approx_kl()) if cfg.target_kl is not None else None
        if approx_kl is not None and approx_kl > cfg.target_kl:
            break  # the policy has moved far enough from pi_psi for this batch
    return stats.metrics(rows, optimizer)
