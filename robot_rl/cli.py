"""`robot-rl`: the command-line entry point.

Subcommands are registered through the ``robot_rl.cli`` entry-point group (see ``setup.py``):
each entry point names a ``register(subparsers)`` function that adds one subcommand and sets
``func`` on its parser. This lets the sibling packages (``sim``, ``calibration``, ``ros_nodes``)
add commands without the core importing them.
"""

from __future__ import annotations

import argparse
import logging
import sys
from importlib.metadata import entry_points

from robot_rl import __version__
from robot_rl.errors import RobotRLError

CLI_ENTRY_POINTS = "robot_rl.cli"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="robot-rl",
        description="Improve Vision-Language-Action policies with LOOP (RLOO + PPO) in simulation and on real robots.",
    )
    parser.add_argument("--version", action="version", version=f"robot-rl {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for ep in sorted(entry_points(group=CLI_ENTRY_POINTS), key=lambda e: e.name):
        try:
            register = ep.load()
        except Exception as err:  # noqa: BLE001 - one broken plugin must not take every command down
            print(f"robot-rl: command '{ep.name}' unavailable ({ep.value}: {type(err).__name__}: {err})", file=sys.stderr)
            continue
        register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
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
