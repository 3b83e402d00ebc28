"""The decisions of the ROS nodes other than the panel, as pure cores (like robot_rl.panel.machine).

- :mod:`robot_rl.nodes.executor`: :class:`~robot_rl.nodes.executor.ExecutorCore`, the safety
  layer's whole decision tree: mode, e-stop latch, chunk pairing and schedule, limits, hold and stop
  commands, refusals and diagnostics.
- :mod:`robot_rl.nodes.policy`: :class:`~robot_rl.nodes.policy.PolicyCore`, the policy node's
  decide/act: input freshness, when to decide, episode bookkeeping, hot swap, what to publish.
- :mod:`robot_rl.nodes.commands`: the robot commands the executor decides, as plain arrays.
- :mod:`robot_rl.nodes.outputs`: what a core asks its node to do (log lines, diagnostics).

A core never reads a clock (callers pass ``now`` [s]) and never touches ROS: ``ros_nodes/executor``
and ``ros_nodes/policy`` convert messages to numpy, call a core, and publish what it returns.
This package sits on top of the core: it may import robot, safety, wire, ros_config, spec; nothing
in ``robot_rl`` imports it.
"""
