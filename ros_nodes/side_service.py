"""A service on a node and thread of its own, for the one slow callback of a latency-critical node.

The policy node runs its inputs, ticks and decisions on rclpy's SingleThreadedExecutor: measured on
this machine, rclpy's MultiThreadedExecutor with a busy mutually exclusive callback group spins its
wait loop and costs tens of milliseconds of image delivery (bench/ros_latency.py). Only the checkpoint
reload is slow (seconds for a big model), so it alone moves here: a second node in the same process,
spun by its own executor in a daemon thread.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor


class SideService:
    """Serve ``srv_name`` (an absolute name) with ``callback`` from a helper node named ``node_name``."""

    def __init__(self, node_name: str, srv_type: Any, srv_name: str, callback: Callable[[Any, Any], Any]) -> None:
        # Global arguments (e.g. `-r __node:=...`) are for the main node: without this, a node remap
        # would give both nodes the same name.
        self.node = rclpy.create_node(node_name, use_global_arguments=False, start_parameter_services=False)
        self.node.create_service(srv_type, srv_name, callback)
        self._executor = SingleThreadedExecutor()
        self._executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, name=f"{node_name}-spin", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        try:
            self._executor.spin()
        except ExternalShutdownException:
            pass

    def close(self) -> None:
        """Stop the thread and destroy the helper node (before the context shuts down)."""
        self._executor.shutdown(timeout_sec=2.0)
        self._thread.join(timeout=2.0)
        self.node.destroy_node()
