"""Training a success detector: frames of the training contexts, then calibration on held-out contexts."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from robot_rl.detector.calibration import calibrate
from robot_rl.detector.config import DetectorConfig
from robot_rl.detector.data import LabelledEpisode, check_class_counts, frame_examples, load_episodes, split_by_context
from robot_rl.detector.model import SuccessDetector

log = logging.getLogger(__name__)


def shift_images(images: np.ndarray, max_shift: int, rng: np.random.Generator) -> np.ndarray:
    """Shift each frame (B, H, W, 3) by up to +-max_shift px (edge padding): a cheap guard against
    memorising exact pixel positions of the few training contexts."""
    if max_shift <= 0:
        return images
    b, h, w, _ = images.shape
    padded = np.pad(images, ((0, 0), (max_shift, max_shift), (max_shift, max_shift), (0, 0)), mode="edge")
    dy, dx = rng.integers(0, 2 * max_shift + 1, size=(2, b))
    return np.stack([padded[i, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(b)])


def episode_logits(detector: SuccessDetector, episodes: Sequence[LabelledEpisode]) -> np.ndarray:
    """The verdict logit of each episode (:meth:`SuccessDetector.episode_logit`)."""
    return np.array([detector.episode_logit(ep.images, ep.instruction) for ep in episodes])


def fit_network(detector: SuccessDetector, images: dict[str, np.ndarray], instructions: list[str], labels: np.ndarray
                ) -> list[float]:
    """Binary cross-entropy on frame examples with AdamW and a cosine schedule; returns the loss curve."""
    cfg = detector.config.train
    rng = np.random.default_rng(cfg.seed)
    params = [p for p in detector.net.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=0.1)
    ids = detector.tokenizer(instructions)  # (N, L)
    n = len(labels)
    losses: list[float] = []
    detector.net.train()
    for step in range(cfg.steps):
        idx = rng.integers(0, n, size=min(cfg.batch_size, n))
        inputs = [torch.from_numpy(shift_images(images[c][idx], cfg.augment_shift, rng)) for c in detector.cameras]
        logit = detector.net(*inputs, torch.from_numpy(ids[idx]))
        loss = F.binary_cross_entropy_with_logits(logit, torch.from_numpy(labels[idx]))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if step % 50 == 0 or step == cfg.steps - 1:
            log.info("detector step %d/%d loss %.4f", step + 1, cfg.steps, float(np.mean(losses[-100:])))
    detector.net.eval()
    return losses


def train_detector(buffers: Sequence[str | Path], config: DetectorConfig | None = None
                   ) -> tuple[SuccessDetector, dict[str, Any]]:
    """Train on the labelled episodes of ``buffers``; calibrate on held-out contexts.

    Returns the detector (calibrated) and a report (split sizes, the calibration split's figures,
    timings). Raises :class:`~robot_rl.errors.ConfigError` when either split lacks enough episodes
    of one class, :class:`~robot_rl.errors.BufferError` for a buffer without labels.
    """
    config = config or DetectorConfig()
    t0 = time.monotonic()
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    spec, episodes = load_episodes(buffers, config.cameras)
    labels = np.array([e.label for e in episodes])
    held = split_by_context([e.context for e in episodes], labels, config.data.calibration_fraction, config.train.seed)
    train_eps = [e for e, h in zip(episodes, held) if not h]
    cal_eps = [e for e, h in zip(episodes, held) if h]
    check_class_counts(labels[~held], config.data.min_episodes_per_class, "training")
    check_class_counts(labels[held], config.data.min_episodes_per_class, "calibration")
    torch.manual_seed(config.train.seed)  # the initial weights too: one seed, one detector
    detector = SuccessDetector(spec, config)
    images, instructions, frame_labels = frame_examples(train_eps, config.data)
    log.info("detector: %d training episodes (%d contexts) -> %d frames (%d positive); %d calibration episodes",
             len(train_eps), len({e.context for e in train_eps}), len(frame_labels), int(frame_labels.sum()), len(cal_eps))
    t_fit = time.monotonic()
    losses = fit_network(detector, images, instructions, frame_labels)
    t_cal = time.monotonic()
    z = episode_logits(detector, cal_eps)
    detector.calibration = calibrate(z, labels[held], config.calibration.target_accuracy, config.calibration.ece_bins)
    report = {
        "buffers": [str(b) for b in buffers],
        "episodes": {"train": len(train_eps), "calibration": len(cal_eps),
                     "train_positive": int(labels[~held].sum()), "calibration_positive": int(labels[held].sum())},
        "contexts": {"train": len({e.context for e in train_eps}), "calibration": len({e.context for e in cal_eps})},
        "frames": {"train": int(len(frame_labels)), "positive": int(frame_labels.sum())},
        "final_loss": float(np.mean(losses[-50:])),
        "calibration": detector.calibration.to_dict(),
        "timings_s": {"load": round(t_fit - t0, 2), "fit": round(t_cal - t_fit, 2), "calibrate": round(time.monotonic() - t_cal, 2)},
    }
    return detector, report
