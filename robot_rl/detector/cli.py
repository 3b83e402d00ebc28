"""`robot-rl detector train|eval`: train a success detector on labelled buffers, score it on others."""

from __future__ import annotations

import argparse
import json
import logging

from robot_rl.config import load_config
from robot_rl.detector.config import DetectorConfig

log = logging.getLogger(__name__)


def _train(args: argparse.Namespace) -> int:
    from robot_rl.detector.checkpoint import save_detector
    from robot_rl.detector.train import train_detector

    config = load_config(DetectorConfig, args.config) if args.config else DetectorConfig()
    if args.steps is not None or args.seed is not None:
        train = config.train.model_copy(update={k: v for k, v in (("steps", args.steps), ("seed", args.seed)) if v is not None})
        config = config.model_copy(update={"train": train})
    detector, report = train_detector(args.buffer, config)
    save_detector(detector, args.out, report)
    fit = report["calibration"]["fit"]
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(f"detector written to {args.out}: {report['episodes']['train']} training episodes "
              f"({report['contexts']['train']} contexts), {report['episodes']['calibration']} calibration episodes")
        print(f"calibration split: temperature {report['calibration']['temperature']:.3f}, abstain below confidence "
              f"{report['calibration']['threshold']:.3f}; coverage {fit['coverage']:.2f}, accuracy_covered "
              f"{fit['accuracy_covered'] if fit['accuracy_covered'] is None else round(fit['accuracy_covered'], 3)}, "
              f"ece {fit['ece']:.3f} (before scaling {fit['ece_before']:.3f})")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from robot_rl.detector.checkpoint import load_detector
    from robot_rl.detector.evaluate import evaluate_detector

    result = evaluate_detector(load_detector(args.detector), args.buffer)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        keys = ("episodes", "positives", "accuracy", "precision", "recall", "coverage", "accuracy_covered", "ece")
        for k in keys:
            v = result[k]
            print(f"{k:<18} {v:.3f}" if isinstance(v, float) else f"{k:<18} {v}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "detector", help="success detector: train on labelled buffer episodes, evaluate on others",
        description="A classifier that proposes an episode's success label from its camera frames and instruction, "
                    "calibrated (temperature scaling on held-out contexts) with an abstain band (docs/detector.md).")
    sub = p.add_subparsers(dest="detector_command", metavar="ACTION", required=True)
    t = sub.add_parser("train", help="train and calibrate a detector on labelled episodes",
                       description="Positives: final frames of successful episodes; negatives: final frames of failed "
                                   "ones plus earlier frames (hard negatives). Contexts are split into training and "
                                   "calibration sets (never frames of one context in both).")
    t.add_argument("--buffer", action="append", required=True, metavar="BUF", help="labelled rollout buffer (repeatable)")
    t.add_argument("--out", required=True, metavar="DIR", help="detector checkpoint directory to write")
    t.add_argument("--config", metavar="YAML", help="DetectorConfig YAML (sections cameras, model, data, train, calibration)")
    t.add_argument("--steps", type=int, help="override train.steps")
    t.add_argument("--seed", type=int, help="override train.seed (also the context split)")
    t.add_argument("--json", action="store_true", help="print the training report as JSON")
    t.set_defaults(func=_train)
    e = sub.add_parser("eval", help="score a detector on a buffer's labelled episodes",
                       description="One verdict per labelled episode from its final frames; prints accuracy, precision, "
                                   "recall (forced verdicts), coverage (share not abstained), accuracy_covered and ece.")
    e.add_argument("--detector", required=True, metavar="DIR", help="detector checkpoint directory")
    e.add_argument("--buffer", action="append", required=True, metavar="BUF", help="labelled rollout buffer (repeatable)")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.set_defaults(func=_eval)
