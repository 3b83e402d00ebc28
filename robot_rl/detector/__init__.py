"""Success detector: a classifier that proposes an episode's success label from its camera frames and
instruction, with a calibrated confidence and an abstain band (docs/detector.md).

    from robot_rl.detector import train_detector, load_detector, evaluate_detector
"""

from robot_rl.detector.calibration import Calibration, choose_threshold, expected_calibration_error, fit_temperature
from robot_rl.detector.checkpoint import load_detector, save_detector
from robot_rl.detector.config import DetectorConfig
from robot_rl.detector.evaluate import evaluate_detector
from robot_rl.detector.model import SuccessDetector
from robot_rl.detector.train import train_detector

__all__ = [
    "Calibration", "DetectorConfig", "SuccessDetector", "choose_threshold", "evaluate_detector",
    "expected_calibration_error", "fit_temperature", "load_detector", "save_detector", "train_detector",
]
