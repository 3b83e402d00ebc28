"""The built-in MuJoCo tabletop suite: a floating parallel-jaw gripper, cubes, a bowl, a plate and a
target area; eight language-conditioned tasks with scripted experts and domain randomization.
See docs/tabletop.md."""

import os

# Headless rendering unless the user chose a backend; must be set before mujoco is first imported.
os.environ.setdefault("MUJOCO_GL", "egl")

from sim.tabletop.suite import TabletopSuite  # noqa: E402

__all__ = ["TabletopSuite"]
