"""Supported platforms, stated and true: Python >= 3.11, and numpy 1.26 kept possible for the distributions."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _setup_kwargs() -> dict[str, ast.AST]:
    tree = ast.parse((ROOT / "setup.py").read_text())
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "setup")
    return {k.arg: k.value for k in call.keywords}


def test_python_requires_matches_zarr_and_the_readme():
    kwargs = _setup_kwargs()
    assert ast.literal_eval(kwargs["python_requires"]) == ">=3.11"
    deps = ast.literal_eval(kwargs["install_requires"])
    assert any(d.startswith("zarr>=3") for d in deps)  # zarr 3 has Requires-Python >=3.11: the reason
    readme = (ROOT / "README.md").read_text()
    assert "Python 3.10+" not in readme and "Python >= 3.11" in readme
    assert "Humble" in readme and "Jazzy" in readme and "Kilted" in readme
    assert sys.version_info >= (3, 11)


def test_the_zarr_floor_has_what_the_buffer_uses():
    """Jazzy/Kilted message packages are built against numpy 1.26, and zarr 3.1.5 is the last release that
    accepts it: the floors stay there, and the writer avoids zarr.Array.with_config (new in 3.1.6).
    tests/buffer passed on numpy 1.26.4 + zarr 3.1.5 (README, Supported platforms)."""
    deps = ast.literal_eval(_setup_kwargs()["install_requires"])
    assert "zarr>=3.1.5,<4" in deps and "numpy>=1.26" in deps
    assert ".with_config(" not in (ROOT / "robot_rl" / "buffer" / "writer.py").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "numpy<2" in readme and "zarr==3.1.5" in readme
