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

import dataclasses
import math
from typing import Any, Protocol

import numpy as np
import torch
from pydantic import Field, model_validator

from robot_rl.algorithms.advantages import AdvantageMethod, group_advantages
from robot_rl.algorithms.kl import KL_LOSS_ESTIMATORS, KLEstimator, kl_divergence
from robot_rl.algorithms.loop_batching import BatchRows, DataParallel, clip_grad_norm
from robot_rl.algorithms.loop_metrics import LoopStats
from robot_rl.algorithms.loop_scoring import (element_mask, policy_log_prob, reduce_executed, reference_log_prob,
                                              row_elements, score)
from robot_rl.algorithms.ppo import Aggregation, Granularity, aggregate, ppo_loss
from robot_rl.config import StrictConfig
from robot_rl.errors import AlgorithmError, ConfigError


class LoopConfig(StrictConfig):
    """Hyper-parameters of the LOOP update (docs/loop.md maps each to the paper)."""

    group_size: int = Field(8, ge=2, description="K: rollouts per context (RIPT-VLA: 8)")
    advantage: AdvantageMethod = Field("rloo", description="rloo (A = R - leave-one-out mean) or grpo (std-normalised)")
    grpo_eps: float = Field(1e-6, gt=0, description="added to the group std by the grpo estimator")
    clip_low: float = Field(0.2, gt=0, lt=1, description="eps_low: ratio clipped below at 1 - clip_low")
    clip_high: float = Field(0.2, gt=0,
                             description="eps_high: ratio clipped above at 1 + clip_high (clip-higher: 0.28)")
    dual_clip: float | None = Field(None, gt=1, description="c > 1: loss of A < 0 elements capped at -c A; null = off")
    log_ratio_clamp: float | None = Field(20.0, gt=0, description="clamp log-ratio to [-x, x] before exp; null = off")
    granularity: Granularity = Field(
        "token", description="one ratio per token (action dim), action (sum over A) or chunk (sum over H, A)")
    aggregation: Aggregation = Field("token-mean", description="how element losses become one scalar (docs/loop.md)")
    balance_episodes: bool = Field(
        False, description="scale each episode's advantage by (mean executed actions per episode) / (its own), so "
                           "every episode carries the same total weight: otherwise a failure that runs to the "
                           "episode limit outweighs a quick success and the batch pushes sampled actions down on net")
    ppo_epochs: int = Field(4, ge=1, description="N: passes over the collected batch")
    minibatch_size: int = Field(64, ge=1, description="policy steps per optimiser step")
    microbatch_size: int | None = Field(
        None, ge=1, description="policy steps per forward/backward (gradient accumulation); null = minibatch_size")
    shuffle: bool = Field(True, description="reshuffle the steps every epoch")
    max_grad_norm: float | None = Field(1.0, gt=0, description="clip the global gradient norm; null = no clipping")
    lr_backbone: float = Field(1e-5, ge=0, description="learning rate of the policy's backbone parameters")
    lr_head: float = Field(1e-4, ge=0, description="learning rate of the policy's action-head parameters")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay")
    adam_betas: tuple[float, float] = Field((0.9, 0.999), description="AdamW betas")
    kl_coef: float = Field(0.0, ge=0, description="weight of the KL penalty to a frozen reference; 0 = off")
    kl_estimator: KLEstimator = Field(
        "k3", description="k2 or k3: the estimator of the reference KL used as a loss (k1's gradient ignores the "
                          "reference, so it is refused with kl_coef > 0 and logged beside the loss as "
                          "losses/kl_ref_k1)")
    entropy_coef: float = Field(
        0.0, ge=-1.0, le=1.0,
        description="loss -= entropy_coef x the policy's exact entropy (per element, aggregated like the loss): > 0 "
                    "is PPO's entropy bonus, < 0 a penalty that keeps the sampler sharp without anchoring its mode; "
                    "token heads only (a gaussian/laplace head's entropy gradient is constant in its log-scale)")
    temperature: float = Field(1.0, gt=0, description="sampling temperature; the same value must score the ratios")
    target_kl: float | None = Field(
        None, gt=0, description="stop the epochs early once an epoch's approx_kl exceeds this")

    @model_validator(mode="after")
    def _microbatch_divides(self) -> LoopConfig:
        if self.microbatch_size is not None and self.microbatch_size > self.minibatch_size:
            raise ValueError(f"microbatch_size ({self.microbatch_size}) must be <= "
                             f"minibatch_size ({self.minibatch_size})")
        return self

    @model_validator(mode="after")
    def _kl_estimator_is_a_loss(self) -> LoopConfig:
        # d/dtheta [log pi_theta(a) - log pi_ref(a)] = d/dtheta log pi_theta(a): the reference drops out of
        # k1's gradient, which only lowers the likelihood of every sampled action (from a reference
        # 0.09 nats away, 8 epochs at advantage 0 drove the exact KL to 1.7 with k1, 0.0015 with k2/k3).
        if self.kl_coef > 0 and self.kl_estimator not in KL_LOSS_ESTIMATORS:
            raise ValueError(f"kl_estimator: got {self.kl_estimator!r} with kl_coef {self.kl_coef}; k1 cannot be "
                             "a loss (its gradient does not depend on the reference); allowed with kl_coef > 0: "
                             f"{', '.join(KL_LOSS_ESTIMATORS)} (k1 is logged as losses/kl_ref_k1)")
        return self


class LoopPolicy(Protocol):
    """What :func:`loop_update` needs from a policy."""

    def log_prob(self, obs: dict[str, Any], sample: Any, temperature: float = 1.0,
                 granularity: str = "token") -> torch.Tensor: ...

    def param_groups(self) -> dict[str, list[torch.nn.Parameter]]: ...


# Heads whose exact entropy is c + log_scale: its gradient w.r.t. the log-scale is a constant, so any
# entropy_coef != 0 drives the scale to log_scale_min (< 0) or log_scale_max (> 0) whatever the reward says.
SCALE_HEADS: tuple[str, ...] = ("gaussian", "laplace")


def check_policy(policy: Any, cfg: LoopConfig) -> None:
    """Refuse settings that are unsound for ``policy``'s action head (:class:`ConfigError` naming the field).

    ``entropy_coef`` needs a token head: a categorical's entropy is bounded and its gradient
    depends on the logits, while a Gaussian/Laplace head's entropy is ``c + log_scale`` (constant
    gradient, unbounded), so the term would only push the scale to one of its clamps.
    """
    kind = getattr(policy, "head_kind", None)
    if cfg.entropy_coef and kind in SCALE_HEADS:
        raise ConfigError(f"loop.entropy_coef: got {cfg.entropy_coef} with a {kind} head; allowed: 0 for "
                          f"{' and '.join(SCALE_HEADS)} heads (their entropy c + log_scale has a constant gradient "
                          "that drives the scale to a clamp whatever the reward), any value in [-1, 1] for a "
                          "token head")


def loop_advantages(rewards: torch.Tensor | np.ndarray, cfg: LoopConfig) -> torch.Tensor:
    """Advantages of (G, K) group rewards with the estimator the config selects, (G, K) -> (G, K)."""
    if torch.as_tensor(rewards).ndim == 2 and torch.as_tensor(rewards).shape[1] != cfg.group_size:
        raise AlgorithmError(f"rewards have {torch.as_tensor(rewards).shape[1]} rollouts per group; "
                             f"group_size is {cfg.group_size}")
    return group_advantages(rewards, cfg.advantage, eps=cfg.grpo_eps)


def _index(x: Any, idx: torch.Tensor, n: int) -> Any:
    """Rows ``idx`` of a tensor / array / list whose first dimension is N; anything else unchanged."""
    if isinstance(x, torch.Tensor) and x.ndim >= 1 and x.shape[0] == n:
        return x[idx.to(x.device)]
    if isinstance(x, np.ndarray) and x.ndim >= 1 and x.shape[0] == n:
        return x[idx.cpu().numpy()]
    if isinstance(x, list) and len(x) == n:
        return [x[i] for i in idx.tolist()]
    if isinstance(x, dict):
        return {k: _index(v, idx, n) for k, v in x.items()}
    return x


def index_sample(sample: Any, idx: torch.Tensor, n: int) -> Any:
    """Rows ``idx`` of a batched PolicySample (a dataclass, NamedTuple or dict of (N, ...) fields)."""
    if dataclasses.is_dataclass(sample) and not isinstance(sample, type):
        fields = {f.name: _index(getattr(sample, f.name), idx, n) for f in dataclasses.fields(sample)}
        return dataclasses.replace(sample, **fields)
    if isinstance(sample, tuple) and hasattr(sample, "_replace"):
        return sample._replace(**{k: _index(v, idx, n) for k, v in sample._asdict().items()})
    if isinstance(sample, dict):
        return _index(sample, idx, n)
    raise AlgorithmError("sample must be a dataclass, NamedTuple or dict of batched fields; "
                         f"got {type(sample).__name__}")


@dataclasses.dataclass
class LoopBatch:
    """N policy steps collected by the sampling policy pi_psi, with one advantage per step.

    obs:          {"images": {cam: uint8 (N, H_img, W_img, 3)}, "proprio": float32 (N, D),
                   "instruction": list[str] of length N}; tensors or numpy arrays.
    sample:       the policy's PolicySample batched over N: action (N, H, A), tokens (N, H, A) or
                  None, raw_action (N, H, A) or None, log_prob (N, H, A) = per-dimension
                  log pi_psi of the sampled chunk at ``LoopConfig.temperature``.
    advantages:   float (N,): the advantage of the episode each step belongs to.
    mask:         bool (N,) or None: False for steps that must not count (padding). None = all.
    ref_log_prob: float (N, H, A) or None: per-dimension log-probs under a frozen reference
                  policy; only read when ``kl_coef > 0`` (computed from ``ref_policy`` if None).
    executed:     int (N,) or None: how many of the H actions of each chunk were executed (the
                  buffer's ``executed``; an episode's last chunk is cut short by success or the
                  episode limit). The unexecuted tail never reached the env, so it earned none of
                  the episode's reward: it gets no ratio, no gradient and no weight in any
                  denominator. None = all H.
    """

    obs: dict[str, Any]
    sample: Any
    advantages: torch.Tensor
    mask: torch.Tensor | None = None
    ref_log_prob: torch.Tensor | None = None
    executed: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.advantages.shape[0])

    @property
    def old_log_prob(self) -> torch.Tensor:
        """Per-dimension sampling log-probs, (N, H, A)."""
        lp = self.sample["log_prob"] if isinstance(self.sample, dict) else getattr(self.sample, "log_prob", None)
        if not isinstance(lp, torch.Tensor):
            raise AlgorithmError("batch.sample.log_prob must be a tensor of per-dimension sampling log-probs (N, H, A)")
        return lp

    def validate(self) -> None:
        """Raise :class:`AlgorithmError` naming the first field whose shape does not fit."""
        n = len(self)
        if self.advantages.ndim != 1:
            raise AlgorithmError(f"advantages must be (N,); got {tuple(self.advantages.shape)}")
        if not torch.isfinite(self.advantages).all():
            raise AlgorithmError("advantages contain NaN or inf")
        lp = self.old_log_prob
        if lp.ndim != 3 or lp.shape[0] != n:
            raise AlgorithmError(f"sample.log_prob must be (N, H, A) with N={n}; got {tuple(lp.shape)}")
        if self.mask is not None and tuple(self.mask.shape) != (n,):
            raise AlgorithmError(f"mask must be (N,) = ({n},); got {tuple(self.mask.shape)}")
        if self.executed is not None:
            if tuple(self.executed.shape) != (n,):
                raise AlgorithmError(f"executed must be (N,) = ({n},); got {tuple(self.executed.shape)}")
            if n and (int(self.executed.min()) < 0 or int(self.executed.max()) > lp.shape[1]):
                raise AlgorithmError(f"executed must count 0..H={lp.shape[1]} actions per chunk; got values "
                                     f"{int(self.executed.min())}..{int(self.executed.max())}")
        if self.ref_log_prob is not None and self.ref_log_prob.shape != lp.shape:
            raise AlgorithmError(f"ref_log_prob must match sample.log_prob {tuple(lp.shape)}; "
                                 f"got {tuple(self.ref_log_prob.shape)}")
        for key in ("proprio", "instruction"):
            value = self.obs.get(key)
            if value is not None and len(value) != n:
                raise AlgorithmError(f"obs['{key}'] has {len(value)} rows; the batch has N={n}")
        for cam, img in self.obs.get("images", {}).items():
            if len(img) != n:
                raise AlgorithmError(f"obs['images']['{cam}'] has {len(img)} rows; the batch has N={n}")

    def select(self, idx: torch.Tensor) -> LoopBatch:
        """The rows ``idx`` (LongTensor) of every field."""
        n = len(self)
        return LoopBatch(
            obs=_index(self.obs, idx, n),
            sample=index_sample(self.sample, idx, n),
            advantages=self.advantages[idx.to(self.advantages.device)],
            mask=None if self.mask is None else self.mask[idx.to(self.mask.device)],
            ref_log_prob=None if self.ref_log_prob is None else self.ref_log_prob[idx.to(self.ref_log_prob.device)],
            executed=None if self.executed is None else self.executed[idx.to(self.executed.device)],
        )

    def action_valid(self) -> torch.Tensor | None:
        """bool (N, H) on the CPU: which chunk actions were executed; None when ``executed`` is None."""
        if self.executed is None:
            return None
        h = self.old_log_prob.shape[1]
        return torch.arange(h)[None, :] < self.executed.detach().cpu().long()[:, None]  # (N, H)


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
