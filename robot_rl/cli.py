"""`robot-rl`: the command-line entry point.

Subcommands are registered through the ``robot_rl.cli`` entry-point group (see ``setup.py``):
each entry point names a ``register(subparsers)`` function that adds one subcommand (or a few)
and sets ``func`` on its parser. This lets the sibling packages (``sim``, ``calibration``,
``ros_nodes``) add commands without the core importing them.

Subcommands import torch, zarr, OpenCV and the rest, which takes seconds, so ``main`` loads only
the entry point of the command being run; ``robot-rl --help`` lists the others from
:data:`COMMANDS` without importing them (tests check that table against every ``register``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from importlib.metadata import EntryPoint, entry_points

from robot_rl import __version__
from robot_rl.errors import RobotRLError

CLI_ENTRY_POINTS = "robot_rl.cli"

# subcommand -> (entry point that registers it, its one-line help): the listing of `robot-rl --help`.
COMMANDS: dict[str, tuple[str, str]] = {
    "buffer": ("buffer", "inspect, verify and merge rollout buffers"),
    "calibrate": ("calibrate", "camera intrinsics, hand-eye extrinsics, latency, sim camera"),
    "calibrate-scale": ("calibrate-scale", "fit the learned-scale layer of a gaussian/laplace policy by NLL"),
    "demos": ("demos", "record scripted-expert demonstrations into a rollout buffer"),
    "detector": ("detector", "success detector: train on labelled buffer episodes, evaluate on others"),
    "doctor": ("doctor", "check a running ROS 2 graph: missing publishers, QoS, joint names, image sizes"),
    "eval": ("eval", "success rate per task of a checkpoint, the scripted expert or random actions"),
    "export": ("export", "export a tiny or hf checkpoint to ONNX (network only; sampling stays outside)"),
    "hw-train": ("hw-train", "LOOP fine-tuning on the robot: schedule -> operator labels -> update -> hot-swap, "
                             "repeated"),
    "plot": ("train", "PNG plots of a training run's success rates and losses"),
    "quickstart": ("train", "the main job: demos -> SFT -> evaluate -> LOOP -> evaluate on the tabletop suite"),
    "rehearse": ("rehearse", "sim-to-real rehearsal: hardware LOOP through the ROS graph and the panel on a lab "
                             "stand-in, with a scripted operator"),
    "sft": ("sft", "behaviour-clone a policy on buffer episodes and write a checkpoint"),
    "spec": ("spec", "show, validate or compare embodiment specs"),
    "tasks": ("tasks", "list installed suites and their tasks"),
    "train": ("train", "LOOP training in simulation, or one update from a rollout buffer (hardware)"),
    "up": ("up", "start a ROS 2 node graph (robot or sim robot) as separate processes"),
}


def _register(ep: EntryPoint, subparsers: argparse._SubParsersAction) -> None:
    try:
        register = ep.load()
    except Exception as err:  # noqa: BLE001 - one broken plugin must not take every command down
        print(f"robot-rl: command '{ep.name}' unavailable ({ep.value}: {type(err).__name__}: {err})", file=sys.stderr)
        return
    register(subparsers)


def build_parser(command: str | None = None, lazy: bool = False) -> argparse.ArgumentParser:
    """The ``robot-rl`` parser.

    :param command: with ``lazy``, the subcommand about to run: only its entry point is loaded.
    :param lazy: list the other commands of :data:`COMMANDS` without importing them (their
        parsers are empty stand-ins); entry points missing from the table are still loaded.
        Default: load every entry point (full parsers, as the help tests walk them).
    """
    parser = argparse.ArgumentParser(
        prog="robot-rl",
        description="Improve Vision-Language-Action policies with LOOP (RLOO + PPO) in simulation and on real robots.",
    )
    parser.add_argument("--version", action="version", version=f"robot-rl {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    eps = {ep.name: ep for ep in entry_points(group=CLI_ENTRY_POINTS)}
    tabled = {ep_name for ep_name, _ in COMMANDS.values()}
    wanted = COMMANDS.get(command or "", (None, ""))[0]
    listed: set[str] = set()
    for name in sorted(eps):
        if not lazy or name == wanted or name not in tabled:
            _register(eps[name], subparsers)
            listed |= set(subparsers.choices)
    if lazy:
        for sub, (ep_name, help_text) in COMMANDS.items():
            if ep_name in eps and sub not in listed:
                subparsers.add_parser(sub, help=help_text, add_help=False)
        # argparse lists subcommands in the order added: keep the listing alphabetical.
        subparsers._choices_actions.sort(key=lambda a: a.dest)
    return parser


def _command_in(argv: list[str]) -> str | None:
    """The subcommand named in ``argv`` (the first word that is not a top-level option)."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(_command_in(argv), lazy=True)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except RobotRLError as err:
        # User mistakes get a message, not a traceback.
        print(f"robot-rl {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"robot-rl {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
