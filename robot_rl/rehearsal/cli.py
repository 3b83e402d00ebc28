"""`robot-rl rehearse [CONFIG] --out DIR`: the sim-to-real rehearsal on the lab stand-in (docs/rehearsal.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_CONFIG = str(Path(__file__).resolve().parents[2] / "configs" / "rehearsal.yaml")

DESCRIPTION = """\
Rehearse hardware fine-tuning on one workstation before touching the arm:

  1. the simulation-trained checkpoint (the quickstart's LOOP policy; trained first if missing) is measured
     on held-out contexts in the training simulator (in-process),
  2. then through the full ROS graph (camera -> policy_node -> action_executor -> the lab stand-in, a
     simulator with a reality profile: lighting, colours, camera pose, latency, ... and a 640x480 driver),
  3. then `robot-rl hw-train` runs LOOP cycles on the stand-in while a scripted operator uses the panel's
     HTTP API (token included) as a person would: follows the schedule, presses Start, labels Success /
     Failure from the stand-in's ground truth after a reaction delay (optionally mislabelling);
     held-out success through the graph is measured every hw.eval_every updates,
  4. the same number of LOOP updates runs in-process on the same shifted world (the baseline).

Every node runs on the stand-in's /clock (use_sim_time). Writes OUT/summary.json, OUT/rehearsal.png,
OUT/rollouts.zarr (the operator-labelled episodes), OUT/hw (hw-train's run), OUT/logs. Stopped or crashed
(a node died): run the same command again to resume.
"""


def _rehearse(args: argparse.Namespace) -> int:
    from robot_rl.rehearsal.config import RehearsalConfig
    from robot_rl.rehearsal.run import rehearse
    from robot_rl.train.cli import parse_overrides

    cfg = RehearsalConfig.load(args.config, parse_overrides(args.set))
    if args.check:
        print(f"{args.config}: valid; reality {cfg.reality.profile}, K={cfg.hw.group_size}, "
              f"{cfg.hw.updates} updates, held-out measurements after updates {cfg.eval_points}")
        return 0
    s = rehearse(cfg, Path(args.out), args.config)

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{x:.2f}"

    print(f"success: sim {pct(s['success_sim'])}, lab before {pct(s['success_lab_before'])}, lab after "
          f"{pct(s['success_lab_after'])} ({s['labelled_episodes']} labelled episodes, "
          f"{s['operator_minutes']:.1f} operator minutes, {s['wall_s'] / 60:.1f} min wall)")
    if s["baseline"]:
        print(f"in-process baseline: {pct(s['baseline']['success_before'])} -> {pct(s['baseline']['success_after'])}")
    print(f"summary: {Path(args.out) / 'summary.json'}; plot: {Path(args.out) / 'rehearsal.png'}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("rehearse", help="sim-to-real rehearsal: hardware LOOP through the ROS graph and the "
                                               "panel on a lab stand-in, with a scripted operator",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", nargs="?", default=DEFAULT_CONFIG, help="rehearsal config YAML (default "
                                                                       "configs/rehearsal.yaml)")
    p.add_argument("--out", required=True, help="run directory (resumed when it holds a rehearsal)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, e.g. --set hw.updates=2 --set operator.mislabel_rate=0.05")
    p.add_argument("--check", action="store_true", help="validate CONFIG and exit")
    p.set_defaults(func=_rehearse)
