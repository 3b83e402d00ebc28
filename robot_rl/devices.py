"""Which torch device a learner or runner uses: one rule for ``auto`` / ``cpu`` / ``cuda[:N]``."""

from __future__ import annotations

import torch

from robot_rl.errors import ConfigError


def resolve_device(device: str) -> torch.device:
    """``auto`` = the first CUDA device when torch sees one, else the CPU; ``cuda`` without CUDA is refused."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device: got {device!r} but torch sees no CUDA device; use 'auto' or 'cpu'")
    try:
        return torch.device(device)
    except RuntimeError:
        raise ConfigError(f"device: got {device!r}; expected auto, cpu, cuda or cuda:N") from None


def exact_float32(device: torch.device) -> None:
    """Turn TF32 off for CUDA matmuls and convolutions when ``device`` is a GPU.

    Log-probs stored at sampling time are the denominators of the PPO ratios the learner computes later,
    possibly on another device. With cuDNN's default TF32 convolutions, a chunk sampled by the tiny VLA on an
    H200 and rescored on the CPU differed by up to 4.4e-3 nats per action dimension; with TF32 off, 1.0e-5
    (scripts/gpu_check.sh, 2026-12-04). bf16 models are unaffected; fp32 convolutions and matmuls get slower.
    """
    if device.type == "cuda":
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
