"""Load the policy the policy node runs: one function, so the loading path is a one-line switch."""

from __future__ import annotations

from pathlib import Path

from robot_rl.deploy import Runner, load_runner
from robot_rl.errors import ConfigError, SpecMismatchError
from robot_rl.spec import EmbodimentSpec


def load_policy_runner(path: str | Path, spec: EmbodimentSpec, device: str = "auto", threads: int = 0) -> Runner:
    """A :class:`~robot_rl.deploy.Runner` for a checkpoint directory (torch) or an ``.onnx`` file
    (onnxruntime), checked against the robot's ``spec``: a policy trained for another embodiment
    is refused with :class:`ConfigError` listing the differences.

    The runner has ``sample(obs, temperature)``, ``act(obs)``, ``version`` and ``provider``.
    """
    if not str(path):
        raise ConfigError("checkpoint: empty; set the policy_node 'checkpoint' parameter to a checkpoint "
                          "directory or an .onnx file")
    runner = load_runner(path, device=device, threads=threads or None)
    try:
        spec.check_compatible(runner.spec, what=f"policy {path}")
    except SpecMismatchError as err:
        raise ConfigError(str(err)) from None
    return runner
