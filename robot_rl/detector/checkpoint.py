"""Detector checkpoints: one directory that rebuilds the detector exactly (like a policy checkpoint).

Layout::

    DIR/
      config.json         {"format": "robot_rl.detector", "format_version": 1, "cameras", "config": {...},
                           "report": {...training report...}}
      model.safetensors   every parameter and buffer
      spec.yaml           the embodiment spec of the training data
      calibration.json    temperature, abstain threshold, target accuracy and the calibration split's figures
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file

from robot_rl.config import validate_config
from robot_rl.detector.calibration import Calibration
from robot_rl.detector.config import DetectorConfig
from robot_rl.detector.model import SuccessDetector
from robot_rl.errors import ConfigError
from robot_rl.spec import EmbodimentSpec

FORMAT = "robot_rl.detector"
FORMAT_VERSION = 1


def save_detector(detector: SuccessDetector, path: str | Path, report: dict[str, Any] | None = None) -> Path:
    """Write ``detector`` to ``path`` (a temporary sibling renamed into place; replaces an older detector)."""
    path = Path(path)
    if path.exists() and any(path.iterdir()) and not (path / "config.json").is_file():
        raise ConfigError(f"{path}: exists and is not a detector checkpoint; refusing to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        save_file({k: v.detach().cpu().contiguous() for k, v in detector.net.state_dict().items()},
                  str(tmp / "model.safetensors"))
        cfg = {"format": FORMAT, "format_version": FORMAT_VERSION, "cameras": detector.cameras,
               "config": detector.config.model_dump(mode="json"), "report": report or {}}
        (tmp / "config.json").write_text(json.dumps(cfg, indent=1))
        (tmp / "calibration.json").write_text(json.dumps(detector.calibration.to_dict(), indent=1))
        detector.spec.to_yaml(tmp / "spec.yaml")
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def load_detector(path: str | Path) -> SuccessDetector:
    """The detector saved at ``path``, in eval mode."""
    path = Path(path)
    cfg_path = path / "config.json"
    if not cfg_path.is_file():
        raise ConfigError(f"{path}: not a detector checkpoint (no config.json); train one with `robot-rl detector train`")
    data = json.loads(cfg_path.read_text())
    if data.get("format") != FORMAT:
        raise ConfigError(f"{cfg_path}: format {data.get('format')!r} is not '{FORMAT}' (a policy checkpoint? "
                          "pass a directory written by `robot-rl detector train`)")
    if data.get("format_version") != FORMAT_VERSION:
        raise ConfigError(f"{cfg_path}: format_version {data.get('format_version')!r}; this robot_rl reads {FORMAT_VERSION}")
    config = validate_config(DetectorConfig, data["config"], str(cfg_path))
    calibration = Calibration.from_dict(json.loads((path / "calibration.json").read_text()))
    detector = SuccessDetector(EmbodimentSpec.from_yaml(path / "spec.yaml"), config, calibration)
    detector.net.load_state_dict(load_file(str(path / "model.safetensors")), strict=True)
    return detector.eval()
