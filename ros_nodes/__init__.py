"""rclpy nodes of robot_rl: thin adapters that convert messages <-> numpy and call robot_rl.

- ``camera_node`` (:mod:`ros_nodes.camera.node`): one camera -> image_raw, camera_info, depth, diagnostics.
- ``action_executor`` (:mod:`ros_nodes.executor.node`): the safety layer, chunks -> robot commands.

Topic names live in :mod:`robot_rl.wire.topics`, QoS choices in :mod:`ros_nodes.qos`,
parameters are declared from the typed configs by :mod:`ros_nodes.params`. See docs/ros.md.
"""
