"""Supervised fine-tuning (behaviour cloning) of a policy on demonstration chunks, and scale calibration.

1. :func:`fit_stats` derives the normalisation stats (proprio mean/std, action bounds from the
   1st/99th percentiles clipped to the spec limits) from the demonstrations.
2. :func:`sft_train` minimises the head's BC loss (token: cross-entropy on the bins; gaussian: MSE
   of the mean; laplace: L1 of the mean) with AdamW, warm-up + cosine decay, gradient clipping and a
   small random image shift, over batches drawn from a :class:`DemoDataset`.
3. :func:`calibrate_scale` (continuous heads) fits only the learned-scale layer by NLL with the
   backbone and mean frozen, so the sampling noise RL starts from matches the demonstrations'
   residuals rather than an arbitrary initial value.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from pydantic import Field

from robot_rl.config import StrictConfig
from robot_rl.errors import ConfigError
from robot_rl.policies.base import Policy
from robot_rl.policies.batch import ObsBatch
from robot_rl.policies.normalization import NormStats
from robot_rl.spec import EmbodimentSpec

log = logging.getLogger(__name__)


class SftConfig(StrictConfig):
    """Behaviour-cloning and scale-calibration settings."""

    steps: int = Field(default=1500, ge=1, description="optimiser steps")
    batch_size: int = Field(default=32, ge=1, le=4096)
    lr: float = Field(default=1e-3, gt=0.0, le=1.0, description="peak learning rate of the head")
    backbone_lr: float | None = Field(default=None, gt=0.0, le=1.0, description="peak LR of the backbone (default: lr)")
    weight_decay: float = Field(default=1e-4, ge=0.0, le=1.0)
    warmup_steps: int = Field(default=50, ge=0)
    grad_clip: float = Field(default=1.0, gt=0.0)
    augment_shift: int = Field(default=4, ge=0, le=32, description="random image shift in pixels (0: off)")
    bounds_percentiles: tuple[float, float] = (1.0, 99.0)
    calibrate_steps: int = Field(default=200, ge=0, description="scale-calibration steps (continuous heads)")
    calibrate_lr: float = Field(default=1e-2, gt=0.0, le=1.0)
    calibrate_batch_size: int = Field(default=64, ge=1, le=4096)
    seed: int = 0
    log_every: int = Field(default=50, ge=1)
    progress: bool = True


@dataclass
class DemoDataset:
    """Demonstration steps held in memory.

    images: {cam: uint8 (N, H, W, 3)}; proprio: float32 (N, D); actions: float32 (N, H, A) target
    chunks in spec units; instructions: N strings (one per step); executed: int (N,) how many of the
    H actions of each chunk were executed (default all; an episode's last chunk is often cut short).
    """

    images: dict[str, np.ndarray]
    proprio: np.ndarray
    actions: np.ndarray
    instructions: list[str]
    episodes: np.ndarray | None = None
    executed: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.proprio)
        sizes = {len(v) for v in self.images.values()} | {len(self.actions), len(self.instructions), n}
        if len(sizes) != 1:
            raise ConfigError(f"demo dataset fields disagree on the number of steps: {sorted(sizes)}")
        if n == 0:
            raise ConfigError("demo dataset is empty")

    def __len__(self) -> int:
        return len(self.proprio)

    def batch(self, index: np.ndarray) -> tuple[ObsBatch, torch.Tensor]:
        """The steps at ``index`` as (obs batch, target chunks (B, H, A))."""
        obs: ObsBatch = {"images": {c: v[index] for c, v in self.images.items()},
                         "proprio": self.proprio[index], "instruction": [self.instructions[i] for i in index]}
        return obs, torch.from_numpy(np.ascontiguousarray(self.actions[index], dtype=np.float32))

    def valid(self, index: np.ndarray | None = None) -> np.ndarray:
        """bool (B, H): which chunk steps were executed (all when ``executed`` is unknown)."""
        n, h = len(self.actions) if index is None else len(index), self.actions.shape[1]
        if self.executed is None:
            return np.ones((n, h), dtype=bool)
        executed = self.executed if index is None else self.executed[index]
        return np.arange(h)[None, :] < np.asarray(executed)[:, None]

    def executed_actions(self) -> np.ndarray:
        """Every executed action, (M, A): what the bounds are fitted on (cut-short chunk tails are padding)."""
        return self.actions[self.valid()]


def fit_stats(data: DemoDataset, spec: EmbodimentSpec, percentiles: tuple[float, float] = (1.0, 99.0)) -> NormStats:
    """Normalisation stats from the demonstrations (see :meth:`NormStats.fit`)."""
    return NormStats.fit(data.proprio, data.executed_actions(), spec, percentiles)


def shift_images(images: dict[str, np.ndarray], pad: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random translation by up to ``pad`` pixels per sample (edge padding, then crop): cheap BC regulariser."""
    if pad <= 0:
        return images
    out = {}
    for cam, img in images.items():
        b, h, w, _ = img.shape
        padded = np.pad(img, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="edge")
        dy, dx = rng.integers(0, 2 * pad + 1, size=(2, b))
        out[cam] = np.stack([padded[i, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(b)])  # (B, H, W, 3)
    return out


@dataclass
class SftResult:
    """Loss per step (and other metrics every ``log_every`` steps)."""

    losses: list[float] = field(default_factory=list)
    metrics: list[dict[str, float]] = field(default_factory=list)


def _lr_lambda(cfg: SftConfig) -> Callable[[int], float]:
    def schedule(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return schedule


def _progress(total: int, desc: str, enabled: bool):  # noqa: ANN202 - tqdm or a no-op
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, leave=False)


def sft_train(policy: Policy, data: DemoDataset, cfg: SftConfig | None = None) -> SftResult:
    """Behaviour-clone ``policy`` on ``data`` for ``cfg.steps`` steps (in place). Stats must be set already."""
    cfg = cfg or SftConfig()
    rng = np.random.default_rng(cfg.seed)
    torch.manual_seed(cfg.seed)
    groups = policy.param_groups()
    backbone_lr = cfg.backbone_lr or cfg.lr
    optim = torch.optim.AdamW([{"params": groups["backbone"], "lr": backbone_lr}, {"params": groups["head"], "lr": cfg.lr}],
                              weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(optim, _lr_lambda(cfg))
    scale = set(map(id, policy.scale_parameters())) if policy.head_kind != "token" else set()
    params = [p for g in groups.values() for p in g if id(p) not in scale]
    policy.train()
    result = SftResult()
    bar = _progress(cfg.steps, "sft", cfg.progress)
    for step in range(cfg.steps):
        index = rng.integers(0, len(data), size=min(cfg.batch_size, len(data)))
        obs, actions = data.batch(index)
        obs["images"] = shift_images(obs["images"], cfg.augment_shift, rng)
        loss, metrics = policy.sft_loss(obs, actions, torch.from_numpy(data.valid(index)))
        optim.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        optim.step()
        sched.step()
        result.losses.append(metrics["loss"])
        if step % cfg.log_every == 0 or step == cfg.steps - 1:
            recent = float(np.mean(result.losses[-cfg.log_every:]))
            result.metrics.append({"step": step, **metrics, "loss_avg": recent, "lr": sched.get_last_lr()[-1]})
            bar.set_postfix(loss=f"{recent:.4f}")
            log.debug("sft step %d loss %.5f", step, recent)
        bar.update(1)
    bar.close()
    policy.eval()
    return result


@dataclass
class CalibrationResult:
    """Mean per-dimension NLL of the demonstrations before and after fitting the scale layer."""

    nll_before: float
    nll_after: float
    losses: list[float] = field(default_factory=list)


def _mean_nll(policy: Policy, data: DemoDataset, batch_size: int) -> float:
    total, n = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            index = np.arange(start, min(len(data), start + batch_size))
            obs, actions = data.batch(index)
            total += policy.nll(obs, actions, torch.from_numpy(data.valid(index))).item() * len(index)
            n += len(index)
    return total / n


def calibrate_scale(policy: Policy, data: DemoDataset, cfg: SftConfig | None = None,
                    eval_steps: int | None = 2048) -> CalibrationResult:
    """Fit only the learned-scale layer by NLL on ``data`` with everything else frozen (in place).

    ``eval_steps`` bounds how many steps the before/after NLL is measured on (None: all).
    """
    cfg = cfg or SftConfig()
    scale_params = policy.scale_parameters()  # raises for token heads
    rng = np.random.default_rng(cfg.seed + 1)
    eval_data = data
    if eval_steps is not None and len(data) > eval_steps:
        idx = np.sort(rng.choice(len(data), eval_steps, replace=False))
        eval_data = DemoDataset({c: v[idx] for c, v in data.images.items()}, data.proprio[idx], data.actions[idx],
                                [data.instructions[i] for i in idx],
                                executed=None if data.executed is None else data.executed[idx])
    policy.eval()
    before = _mean_nll(policy, eval_data, cfg.calibrate_batch_size)
    trainable = {id(p) for p in scale_params}
    saved = {}
    for p in policy.parameters():
        saved[id(p)] = p.requires_grad
        p.requires_grad_(id(p) in trainable)
    optim = torch.optim.Adam(scale_params, lr=cfg.calibrate_lr)
    losses = []
    try:
        bar = _progress(cfg.calibrate_steps, "calibrate-scale", cfg.progress)
        for _ in range(cfg.calibrate_steps):
            index = rng.integers(0, len(data), size=min(cfg.calibrate_batch_size, len(data)))
            obs, actions = data.batch(index)
            loss = policy.nll(obs, actions, torch.from_numpy(data.valid(index)))
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            losses.append(loss.item())
            bar.set_postfix(nll=f"{loss.item():.3f}")
            bar.update(1)
        bar.close()
    finally:
        for p in policy.parameters():
            p.requires_grad_(saved[id(p)])
    after = _mean_nll(policy, eval_data, cfg.calibrate_batch_size)
    log.info("scale calibration: NLL per dimension %.4f -> %.4f", before, after)
    return CalibrationResult(before, after, losses)
