"""Choosing MuJoCo's OpenGL backend for robosuite, and its shadow / reflection switches.

The backend is process-wide: robosuite reads ``MUJOCO_GL`` once, when it is first imported, so
it must be chosen before the first LIBERO env is built and cannot change afterwards.

- ``egl``: headless EGL. On a machine with an NVIDIA driver it renders on the GPU (pick the
  device with ``render_device``); on a CPU-only machine Mesa's llvmpipe implements it.
- ``osmesa``: Mesa's software renderer (``apt-get install libosmesa6``); CPU only.

LIBERO's scenes declare their lights with ``castshadow="false"`` and give some materials
reflectance (table legs, robot): by default MuJoCo renders those reflections, which on a CPU
costs about as much again as the rest of the frame. ``shadows=True`` makes every light cast
shadows (MuJoCo's shadow pass; ~5x on CPU); ``reflections=False`` drops the reflection pass.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Literal

from robot_rl.errors import ConfigError

Backend = Literal["egl", "osmesa"]


def select_backend(backend: Backend | None) -> str:
    """Set ``MUJOCO_GL`` / ``PYOPENGL_PLATFORM`` for robosuite and return the backend in use.

    ``None`` keeps an existing ``MUJOCO_GL`` (else ``egl``). Raises :class:`ConfigError` when
    robosuite is already imported with a different backend, which cannot be switched.
    """
    current = os.environ.get("MUJOCO_GL", "").lower() or None
    wanted = backend or current or "egl"
    if wanted not in ("egl", "osmesa"):
        raise ConfigError(f"MUJOCO_GL: got {wanted!r}; LIBERO renders offscreen with 'egl' or 'osmesa'")
    if "robosuite" in sys.modules and current is not None and current != wanted:
        raise ConfigError(
            f"render_backend: got {wanted!r} but robosuite was already imported with MUJOCO_GL={current!r}; "
            "the backend is fixed per process: set it before the first LIBERO env is built"
        )
    os.environ["MUJOCO_GL"] = wanted
    os.environ["PYOPENGL_PLATFORM"] = wanted
    return wanted


def apply_render_flags(sim: Any, *, shadows: bool, reflections: bool) -> None:
    """Switch shadows and reflections on robosuite's offscreen context of ``sim`` (an ``MjSim``)."""
    import mujoco

    model = sim.model._model
    # Lights in LIBERO scenes never cast shadows as shipped: turning shadows on means asking them to.
    model.light_castshadow[:] = shadows
    context = getattr(sim, "_render_context_offscreen", None)
    if context is None:  # render=False env: nothing renders
        return
    context.scn.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = int(shadows)
    context.scn.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = int(reflections)


def make_current(sim: Any) -> None:
    """Make ``sim``'s GL context current before it renders.

    robosuite makes its context current only when creating it, never before rendering, so with
    several LIBERO envs in one process (one per task, or another MuJoCo renderer) frames would
    be drawn into whichever context was created last: garbage images, no error.
    """
    context = getattr(sim, "_render_context_offscreen", None)
    if context is not None:
        context.gl_ctx.make_current()
