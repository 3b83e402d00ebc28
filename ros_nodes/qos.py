"""QoS profiles of the robot_rl graph, chosen on purpose (docs/ros.md explains each).

- streams (images, poses, heartbeats): sensor data, best effort, keep last 5; a late frame is
  worth nothing, and a reliable stream would queue stale data behind a slow reader.
- commands and chunks: reliable, keep last 10, volatile; every chunk matters, old ones expire by
  their stamps.
- latched state (e-stop, instruction): reliable, transient local, keep last 1, so a node that
  (re)starts learns the current e-stop state immediately.
- e-stop subscriptions (:data:`ESTOP_SUBSCRIPTIONS`): the latched profile alone would not match a
  volatile publisher such as ``ros2 topic pub --once`` (a transient-local subscription requests
  more than a volatile publisher offers), so the executor and the panel subscribe three times: latched (the
  current state on (re)start), reliable volatile (any reliable publisher, whatever its durability)
  and best effort (any publisher at all). Every e-stop message latches; a repeat changes nothing.

Images above ~300 KB (e.g. 640x480 rgb8) need ``FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA`` in every process;
small ones travel fine over the default UDP/shared-memory transports (see docs/ros.md).
"""

from __future__ import annotations

from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)

SENSOR = qos_profile_sensor_data

RELIABLE = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                      reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)

LATCHED = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                     reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)

ESTOP_SUBSCRIPTIONS = (LATCHED, RELIABLE, SENSOR)

_BY_NAME = {"sensor_data": SENSOR, "reliable": RELIABLE, "latched": LATCHED}


def by_name(name: str) -> QoSProfile:
    """The profile called ``name`` (sensor_data, reliable, latched)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown QoS '{name}'; choose one of {', '.join(_BY_NAME)}") from None
