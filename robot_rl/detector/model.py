"""The success detector network and its wrapper (spec, cameras, tokenizer, calibration).

Per camera, the tiny VLA's image encoder (CoordConv CNN, pooled grid + spatial-softmax keypoint
token) turns a uint8 frame into a feature vector; the instruction's bytes are embedded and mean-
pooled (only the instruction says which object the task is about); an MLP reads both out to one
success logit::

    images: cam -> (B, H, W, 3) uint8 ─ ImageEncoder ─ flatten ─┐
    instruction ids (B, L) ─ embedding, mean over bytes ────────┴─ MLP ─ logit (B,)
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from robot_rl.detector.calibration import Calibration, confidence
from robot_rl.detector.config import DetectorConfig
from robot_rl.errors import ConfigError, SpecMismatchError
from robot_rl.policies.tiny.modeling_tiny import ImageEncoder
from robot_rl.policies.tokenizer import PAD_ID, ByteTokenizer
from robot_rl.spec import EmbodimentSpec


def _siglip(path: str | None, config: dict[str, Any] | None) -> nn.Module:
    try:
        from transformers import SiglipVisionConfig, SiglipVisionModel
    except ModuleNotFoundError:
        raise ConfigError("the hf detector backbone needs transformers: pip install 'robot_rl[hf]'") from None
    if path:
        return SiglipVisionModel.from_pretrained(path)
    return SiglipVisionModel(SiglipVisionConfig(**(config or {})))


class DetectorNet(nn.Module):
    """(image per camera (B, H, W, 3) uint8 ..., token_ids (B, L)) -> success logit (B,)."""

    def __init__(self, num_cameras: int, cfg: DetectorConfig) -> None:
        super().__init__()
        m = cfg.model
        self.num_cameras = num_cameras
        self.vision: nn.Module | None = None
        if m.backbone == "hf":
            self.vision = _siglip(m.hf_path, m.hf_config)
            self.vision.requires_grad_(False)  # frozen: only the head learns (HIL-SERL's recipe)
            per_camera = self.vision.config.hidden_size
        else:
            self.image_encoder = ImageEncoder(m.cnn_channels, m.d_model, m.image_grid, m.keypoints)
            per_camera = (m.image_grid * m.image_grid + 1) * m.d_model
        self.word_embed = nn.Embedding(ByteTokenizer.vocab_size, m.d_model, padding_idx=PAD_ID)
        self.head = nn.Sequential(
            nn.LayerNorm(num_cameras * per_camera + m.d_model), nn.Linear(num_cameras * per_camera + m.d_model, m.hidden),
            nn.GELU(), nn.Linear(m.hidden, m.hidden), nn.GELU(), nn.Linear(m.hidden, 1))

    def encode(self, image: torch.Tensor) -> torch.Tensor:
        """uint8 (B, H, W, 3) -> features (B, F)."""
        if self.vision is None:
            return self.image_encoder(image).flatten(1)  # (B, (g*g+1)*d)
        size = self.vision.config.image_size
        x = image.permute(0, 3, 1, 2).float() / 255.0  # (B, 3, H, W)
        if x.shape[-2:] != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        return self.vision(pixel_values=(x - 0.5) / 0.5).last_hidden_state.mean(1)  # (B, dv): mean over patches

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        images, ids = inputs[: self.num_cameras], inputs[-1]
        feats = [self.encode(img) for img in images]  # each (B, per-camera features)
        real = (ids != PAD_ID).float().unsqueeze(-1)  # (B, L, 1)
        words = (self.word_embed(ids) * real).sum(1) / real.sum(1).clamp(min=1.0)  # (B, d)
        return self.head(torch.cat([*feats, words], dim=-1)).squeeze(-1)  # (B,)


class SuccessDetector(nn.Module):
    """A trained detector: the network, the spec and cameras it was trained for, and its calibration."""

    def __init__(self, spec: EmbodimentSpec, config: DetectorConfig | None = None,
                 calibration: Calibration | None = None) -> None:
        super().__init__()
        self.config = config or DetectorConfig()
        self.spec = spec
        names = spec.camera_names
        self.cameras = list(self.config.cameras or names)
        missing = [c for c in self.cameras if c not in names]
        if missing:
            raise SpecMismatchError(f"detector cameras {missing} are not in spec '{spec.name}' (cameras: {', '.join(names)})")
        self.calibration = calibration or Calibration(target_accuracy=self.config.calibration.target_accuracy)
        self.tokenizer = ByteTokenizer(self.config.model.max_instruction_length)
        self.net = DetectorNet(len(self.cameras), self.config)
        if self.net.vision is not None:
            # Record the resolved vision config, so the checkpoint reloads without the original directory.
            plain = {k: v for k, v in self.net.vision.config.to_dict().items()
                     if k not in ("transformers_version", "architectures", "_name_or_path", "torch_dtype", "dtype", "model_type")}
            model = self.config.model.model_copy(update={"hf_path": None, "hf_config": plain})
            self.config = self.config.model_copy(update={"model": model})

    def check_spec(self, spec: EmbodimentSpec, what: str = "buffer") -> None:
        """Refuse data whose cameras differ from the ones this detector was trained on (name or image size)."""
        mine = {c.name: tuple(c.shape) for c in self.spec.cameras if c.name in self.cameras}
        theirs = {c.name: tuple(c.shape) for c in spec.cameras}
        bad = [f"{c}: trained on {mine[c]}, {what} has " + (str(theirs[c]) if c in theirs else "no such camera")
               for c in self.cameras if theirs.get(c) != mine[c]]
        if bad:
            raise SpecMismatchError(
                f"this detector was trained for spec '{self.spec.name}' (cameras {', '.join(self.cameras)}); {what} spec "
                f"'{spec.name}' differs: " + "; ".join(bad) + ". Train a detector on data of this spec "
                "(`robot-rl detector train --buffer ...`).")

    def inputs(self, images: Mapping[str, np.ndarray], instructions: Sequence[str]) -> list[torch.Tensor]:
        """Network inputs: uint8 (B, H, W, 3) per detector camera, then token ids (B, L)."""
        ids = torch.from_numpy(self.tokenizer(list(instructions)))
        return [torch.as_tensor(np.ascontiguousarray(images[c])) for c in self.cameras] + [ids]

    @torch.no_grad()
    def logits(self, images: Mapping[str, np.ndarray], instructions: Sequence[str], batch_size: int = 256) -> np.ndarray:
        """Uncalibrated success logits (B,) for frames ``images[cam]`` (B, H, W, 3) uint8."""
        n = len(instructions)
        out = []
        for s in range(0, n, batch_size):
            part = {c: images[c][s:s + batch_size] for c in self.cameras}
            out.append(self.net(*self.inputs(part, instructions[s:s + batch_size])).double().numpy())
        return np.concatenate(out) if out else np.zeros(0)

    def verdict(self, z: np.ndarray) -> dict[str, Any]:
        """Calibrated verdicts for episode logits ``z`` (B,): probability of success, confidence, abstain."""
        p = self.calibration.probability(z)
        conf = confidence(p)
        return {"p_success": p, "success": p >= 0.5, "confidence": conf, "abstain": conf < self.calibration.threshold}

    def episode_logit(self, images: Mapping[str, np.ndarray], instruction: str) -> float:
        """One episode's verdict logit from its final frames ``images[cam]`` (T, H, W, 3): the mean
        logit over the last ``data.end_frames`` frames (the frames positives were drawn from)."""
        k = self.config.data.end_frames
        last = {c: images[c][-k:] for c in self.cameras}
        return float(self.logits(last, [instruction] * len(last[self.cameras[0]])).mean())
