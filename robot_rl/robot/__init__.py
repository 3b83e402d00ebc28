"""The robot side of robot_rl as pure functions (no ROS): what the ROS nodes compute.

- :mod:`~robot_rl.robot.proprio`: spec proprio <-> joint states + end-effector pose
- :mod:`~robot_rl.robot.observation`: latest inputs, freshness checks, observation assembly
- :mod:`~robot_rl.robot.episodes`: episode events -> rollout-buffer episodes
- :mod:`~robot_rl.robot.commands`: pose/twist commands -> env actions (the sim robot)
- :mod:`~robot_rl.robot.runner`: loading the policy the node runs
"""
