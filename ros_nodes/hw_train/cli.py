"""`robot-rl hw-train CONFIG`: the hardware LOOP loop (registered from ros_nodes: it needs rclpy).

rclpy is imported only when the command runs, so `robot-rl --help` works without ROS.
"""

from __future__ import annotations

import argparse
import sys

DESCRIPTION = """\
Fine-tune the policy on the robot with LOOP (RLOO + PPO) from operator-labelled episodes, cycle after cycle:

  1. plan    draw contexts from CONFIG's `contexts` (seeded, no simulator) and publish the schedule
             (/robot_rl/hw_schedule, latched JSON: groups, "context c of C, rollout k of K") for the
             operator panel (success_label_node). The operator resets the scene, presses Start, and
             labels each rollout Success / Failure; the policy node records every episode into the
             rollout buffer (CONFIG `buffer` = the policy node's buffer_path) with the label.
  2. reject  hw-train re-reads the buffer after every episode event and every deploy.poll_s. A group
             of K usable episodes (status ok/timeout) of the current policy version whose rewards are
             all equal carries no signal: it is rejected and another context is drawn (dynamic
             rejection, at most max_attempts groups per cycle). Skip on the panel (/robot_rl/hw_request
             skip_context) draws another context too.
  3. update  once groups_needed groups with mixed rewards are complete (status "training"), one LOOP
             update (CONFIG `loop`, the trainer's --from-buffer path) on exactly those groups:
             only complete groups of the current policy version count. Policy v+1 is saved to
             RUN/policies/v<N> (and RUN/policies/v<N>.onnx with export: onnx).
  4. deploy  (status "deploying") set the policy node's `checkpoint` (and `temperature`) parameters,
             call /robot_rl/reload_policy, wait until /robot_rl/policy_version reports v+1 (a running
             episode finishes with the old policy first), then start the next cycle.

Resumable: the buffer is the source of truth; the rest (cycle, policy version, skipped groups) is in
RUN/hw_state.json, written atomically. Stop hw-train (or any node) at any point and start it again with
the same CONFIG: it recomputes the same schedule and goes on; a policy node restarted with an old
checkpoint is brought back to the current version. Output: RUN/metrics.jsonl (one line per update),
RUN/policies/vN, RUN/optim/vN.pt. See docs/hw_train.md and configs/hw_train.yaml.
"""


def _hw_train(args: argparse.Namespace) -> int:
    from robot_rl.train.cli import parse_overrides
    from robot_rl.train.hw_config import HwTrainConfig

    cfg = HwTrainConfig.load(args.config, parse_overrides(args.set))
    if args.check:
        print(f"{args.config}: valid; K={cfg.group_size}, {cfg.groups_needed} groups per update, "
              f"{len(cfg.contexts)} contexts, run dir {cfg.run_dir}")
        return 0

    try:
        import rclpy
        from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
    except ImportError as err:
        from robot_rl.errors import ConfigError

        raise ConfigError(f"hw-train needs rclpy ({err}): source a ROS 2 install or pip install the ros-* wheels "
                          "(scripts/setup.sh)") from None

    from ros_nodes.hw_train.node import HwTrainNode

    init = {"domain_id": args.domain_id} if args.domain_id is not None else {}
    rclpy.init(args=None, **init)
    node = None
    try:
        node = HwTrainNode(cfg, use_sim_time=args.use_sim_time)
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    print("robot-rl hw-train: stopped", file=sys.stderr)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "hw-train", help="LOOP fine-tuning on the robot: schedule -> operator labels -> update -> hot-swap, repeated",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", help="hw-train config YAML (see configs/hw_train.yaml)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, e.g. --set groups_needed=2 --set loop.ppo_epochs=1 (repeatable)")
    p.add_argument("--domain-id", type=int, default=None, help="ROS_DOMAIN_ID (default: the environment's)")
    p.add_argument("--use-sim-time", action="store_true",
                   help="follow /clock (the robot stand-in's sim time, publish_clock) instead of the wall clock")
    p.add_argument("--check", action="store_true", help="validate CONFIG and exit (needs no ROS)")
    p.set_defaults(func=_hw_train)
