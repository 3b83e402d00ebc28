"""The SFT driver: demonstrations from a rollout buffer -> behaviour cloning -> scale calibration -> checkpoint.

The algorithm (:func:`~robot_rl.algorithms.sft.sft_train`, :func:`~robot_rl.algorithms.sft.calibrate_scale`)
lives in ``robot_rl/algorithms/sft.py``; this module reads the buffer and writes the checkpoint, as the
LOOP drivers beside it do. ``robot-rl sft`` (:mod:`robot_rl.train.sft_cli`) and the quickstart run it.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robot_rl.algorithms.sft import DemoDataset, SftConfig, calibrate_scale, fit_stats, sft_train
from robot_rl.errors import ConfigError
from robot_rl.spec import EmbodimentSpec

log = logging.getLogger(__name__)


def load_demos(path: str, successful_only: bool = True, spec: EmbodimentSpec | None = None) -> DemoDataset:
    """Every step of the buffer's committed ``ok`` episodes (reward 1 only by default) as a :class:`DemoDataset`.

    The target chunk of a step is the ``action`` it recorded (for expert demonstrations: the next H
    expert actions). ``spec``, when given, must match the buffer's.
    """
    from robot_rl.buffer import RolloutBuffer

    with RolloutBuffer.open(path) as buf:
        if spec is not None:
            spec.check_compatible(buf.spec, what=f"buffer {path}")
        table = buf.episodes.filter(status="ok")
        if successful_only:
            table = table.filter(reward=1)
        if len(table) == 0:
            raise ConfigError(f"{path}: no {'successful ' if successful_only else ''}ok episodes to train on "
                              f"({buf.num_episodes} episodes in the buffer)")
        ids = [int(i) for i in table.episode]
        cams = buf.spec.camera_names
        steps = buf.read_steps(ids, [f"images/{c}" for c in cams] + ["proprio", "action", "episode", "executed"])
        instruction_of = dict(zip(ids, table.instruction))
    episode = steps["episode"].numpy()
    log.info("loaded %d steps of %d episodes from %s", len(episode), len(ids), path)
    return DemoDataset({c: steps[f"images/{c}"].numpy() for c in cams}, steps["proprio"].numpy().astype(np.float32),
                       steps["action"].numpy().astype(np.float32), [str(instruction_of[int(e)]) for e in episode], episode,
                       steps["executed"].numpy().astype(np.int64))


def run_sft(buffer: str | Path, policy_type: str, policy_config: dict[str, Any] | None, cfg: SftConfig,
            out: str | Path, successful_only: bool = True) -> dict[str, Any]:
    """The whole `robot-rl sft` pipeline: demos -> stats -> BC -> scale calibration -> checkpoint at ``out``.

    Returns the summary that is also stored in the checkpoint's config.json under ``extra.sft``.
    """
    from robot_rl.buffer import RolloutBuffer
    from robot_rl.policies import make_policy, save_policy

    with RolloutBuffer.open(buffer) as buf:
        spec = buf.spec
    data = load_demos(str(buffer), successful_only=successful_only)
    torch.manual_seed(cfg.seed)
    policy = make_policy(policy_type, spec, policy_config or {})
    policy.set_stats(fit_stats(data, spec, cfg.bounds_percentiles))
    log.info("sft: %d steps, %s policy with %s head (%.2f M parameters), %d steps", len(data), policy_type,
             policy.head_kind, sum(p.numel() for p in policy.parameters()) / 1e6, cfg.steps)
    t0 = time.time()
    result = sft_train(policy, data, cfg)
    n = max(1, min(50, len(result.losses) // 10))
    summary: dict[str, Any] = {"buffer": str(buffer), "demo_steps": len(data), "head": policy.head_kind,
                               "loss_first": float(np.mean(result.losses[:n])), "loss_last": float(np.mean(result.losses[-n:])),
                               "seconds": round(time.time() - t0, 1)}
    if policy.head_kind != "token" and cfg.calibrate_steps > 0:
        cal = calibrate_scale(policy, data, cfg)
        summary.update(nll_before=cal.nll_before, nll_after=cal.nll_after)
    save_policy(policy, out, extra={"sft": {**summary, "config": cfg.model_dump(mode="json")}})
    return summary
