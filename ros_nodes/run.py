"""The one `main()` every node's console script shares: init, spin, clean shutdown, config errors as exit 2."""

from __future__ import annotations

import sys
from typing import Callable

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node

from robot_rl.errors import RobotRLError


def run_node(name: str, make_node: Callable[[], Node], args: list[str] | None = None, threads: int = 1) -> int:
    """Build the node with ``make_node`` and spin it until Ctrl-C / SIGTERM / external shutdown.

    A :class:`~robot_rl.errors.RobotRLError` while building (bad parameters name the field) prints
    ``NAME: error: ...`` and returns 2. The node's ``shutdown()`` runs, when it has one, before
    ``destroy_node()`` (threads and files close before the context goes away).
    """
    rclpy.init(args=args)
    node = None
    try:
        node = make_node()
        if threads > 1:
            executor = MultiThreadedExecutor(num_threads=threads)
            executor.add_node(node)
            executor.spin()
        else:
            rclpy.spin(node)
    except RobotRLError as err:
        print(f"{name}: error: {err}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            shutdown = getattr(node, "shutdown", None)
            if callable(shutdown):
                shutdown()
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
