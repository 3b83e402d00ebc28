"""Fixtures for ROS tests; the helpers live in ros_harness.py."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

pytest.importorskip("rclpy")


@pytest.fixture(scope="module")
def domain_id() -> int:
    return random.randint(1, 200)


@pytest.fixture(scope="module")
def node_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("node_logs")
