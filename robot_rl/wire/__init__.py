"""The wire protocol of the robot_rl ROS 2 graph, with no ROS import: one home for what crosses it.

- :mod:`~robot_rl.wire.topics`: topic and service names.
- :mod:`~robot_rl.wire.chunk_layout`: how an action chunk is laid out in a Float32MultiArray.
- :mod:`~robot_rl.wire.episode_event`: episode start / end / label events and the policy node's acks.
- :mod:`~robot_rl.wire.hw_schedule`: hw-train's schedule and the panel's requests.

Everything above it (node configs in ``robot_rl.ros_config``, the robot cores in ``robot_rl.robot``,
the nodes in ``ros_nodes``) imports it; it imports only the base modules (``config``, ``env``,
``errors``), so no import cycle can run through it.
"""
