"""The batch the LOOP update reads: N policy steps with their sampling log-probs and advantages."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from robot_rl.errors import AlgorithmError


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
