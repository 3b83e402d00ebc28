"""Entry-point factories: one per registered suite name (``robot_rl.suites`` group in setup.py).

``robot_rl.env.make_suite("libero_object", render_backend="egl")`` finds the entry point named
``libero_object`` and calls the factory below with the options. Other complete suites of the
installed package (e.g. ``libero_spatial_with_mug``) are reachable as ``LiberoSuite(name)``.
"""

from __future__ import annotations

from typing import Any, Callable

from sim.libero.catalog import REGISTERED_SUITES
from sim.libero.suite import LiberoSuite


def _factory(name: str) -> Callable[..., LiberoSuite]:
    def make(**options: Any) -> LiberoSuite:
        return LiberoSuite(name, **options)

    make.__name__ = make.__qualname__ = name
    make.__doc__ = f"Build the LIBERO suite '{name}' (options: sim.libero.config.LiberoOptions)."
    return make


# Standard suites.
libero_spatial = _factory("libero_spatial")
libero_object = _factory("libero_object")
libero_goal = _factory("libero_goal")
libero_10 = _factory("libero_10")
libero_90 = _factory("libero_90")

# LIBERO-PRO perturbations of the four 10-task suites: language, object, swapped layout, task.
libero_spatial_lan = _factory("libero_spatial_lan")
libero_spatial_object = _factory("libero_spatial_object")
libero_spatial_swap = _factory("libero_spatial_swap")
libero_spatial_task = _factory("libero_spatial_task")
libero_object_lan = _factory("libero_object_lan")
libero_object_object = _factory("libero_object_object")
libero_object_swap = _factory("libero_object_swap")
libero_object_task = _factory("libero_object_task")
libero_goal_lan = _factory("libero_goal_lan")
libero_goal_object = _factory("libero_goal_object")
libero_goal_swap = _factory("libero_goal_swap")
libero_goal_task = _factory("libero_goal_task")
libero_10_lan = _factory("libero_10_lan")
libero_10_object = _factory("libero_10_object")
libero_10_swap = _factory("libero_10_swap")
libero_10_task = _factory("libero_10_task")

assert all(name in globals() for name in REGISTERED_SUITES), "every registered suite needs a factory here"
