"""Configuration of the success detector: model sizes, which frames are examples, training and calibration."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from robot_rl.config import StrictConfig


class DetectorModelConfig(StrictConfig):
    """Sizes of the detector: an image backbone per camera and a byte-embedding instruction code.

    backbone: ``cnn`` (default; the tiny VLA's image encoder, trained from scratch on the CPU) or ``hf``
    (a transformers SigLIP vision model, frozen; only the instruction code and the MLP head train):
    weights from the local directory ``hf_path`` (``from_pretrained``, no hub), or from the config dict
    ``hf_config`` (what a saved detector records, so it reloads without the directory).
    """

    backbone: str = Field("cnn", pattern="^(cnn|hf)$")
    hf_path: str | None = None
    hf_config: dict[str, Any] | None = None
    cnn_channels: tuple[int, int, int] = (16, 32, 32)
    d_model: int = Field(64, ge=8, le=1024)
    image_grid: int = Field(2, ge=1, le=8)
    keypoints: int = Field(16, ge=1, le=128)
    hidden: int = Field(128, ge=8, le=2048)
    max_instruction_length: int = Field(48, ge=1, le=512)

    @model_validator(mode="after")
    def _hf_needs_weights(self) -> DetectorModelConfig:
        if self.backbone == "hf" and not (self.hf_path or self.hf_config):
            raise ValueError("backbone 'hf' needs hf_path: a local directory with a transformers SigLIP vision model")
        return self


class DetectorDataConfig(StrictConfig):
    """Which frames of a labelled episode are examples (an episode has one frame per policy decision).

    - positives: the last ``end_frames`` frames of successful episodes;
    - negatives: the last ``end_frames`` frames of failed episodes, plus (hard negatives) every earlier
      frame of failed episodes and the frames of successful episodes at least ``hard_negative_gap``
      decisions before their end (the task not yet done: the detector must judge the state, not the
      scene or the instruction).
    """

    end_frames: int = Field(1, ge=1, le=16)
    hard_negative_gap: int = Field(2, ge=1, le=64)
    failed_earlier_frames: bool = True
    calibration_fraction: float = Field(0.3, gt=0.0, lt=1.0, description="share of contexts held out")
    min_episodes_per_class: int = Field(5, ge=1, description="per class in each split, to calibrate")


class DetectorTrainConfig(StrictConfig):
    steps: int = Field(600, ge=1)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(2e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    augment_shift: int = Field(3, ge=0, le=16, description="random +-N px image shift")
    seed: int = 0
    # 1 thread: with 2 the per-step time rose ~10x on the shared 2-core machine (threads spin against
    # other processes; bench/detector.py shows the same for inference). 0 keeps torch's choice.
    threads: int = Field(1, ge=0, description="torch CPU threads (0: torch's choice)")


class DetectorCalibrationConfig(StrictConfig):
    """target_accuracy: the abstain band is the narrowest whose covered calibration episodes reach it."""

    target_accuracy: float = Field(0.97, gt=0.5, le=1.0)
    ece_bins: int = Field(10, ge=2, le=100)


class DetectorConfig(StrictConfig):
    """Everything ``robot-rl detector train --config YAML`` reads (sections model, data, train, calibration).

    cameras: the spec cameras the detector looks at (default: all of the spec's).
    """

    cameras: list[str] | None = None
    model: DetectorModelConfig = DetectorModelConfig()
    data: DetectorDataConfig = DetectorDataConfig()
    train: DetectorTrainConfig = DetectorTrainConfig()
    calibration: DetectorCalibrationConfig = DetectorCalibrationConfig()
