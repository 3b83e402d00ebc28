"""The one strict YAML loader (robot_rl.config): repeated keys refused, every shipped YAML read as before,
and no other YAML reader in the packages."""

import re
from pathlib import Path

import pytest
import yaml

from robot_rl.config import load_config, load_yaml, parse_yaml
from robot_rl.errors import ConfigError
from robot_rl.train.config import TrainConfig

ROOT = Path(__file__).resolve().parents[1]


def test_a_repeated_key_is_refused_with_file_and_line(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("updates: 3\nloop:\n  clip_high: 0.2\n  clip_high: 0.28\n")
    with pytest.raises(ConfigError, match=r"train.yaml: not valid YAML at line 4, column 3: found duplicate key 'clip_high'$"):
        load_config(TrainConfig, path)
    assert yaml.safe_load(path.read_text())["loop"]["clip_high"] == 0.28  # what PyYAML alone would have run with


def test_merge_keys_may_still_be_overridden():
    assert parse_yaml("base: &b {x: 1, y: 2}\nrun:\n  <<: *b\n  x: 3\n")["run"] == {"x": 3, "y": 2}


def test_command_line_values_go_through_the_same_loader():
    from robot_rl.train.cli import parse_overrides

    assert parse_overrides(["loop.clip_high=0.28", "loop.dual_clip=null"]) == {"loop.clip_high": 0.28,
                                                                               "loop.dual_clip": None}
    with pytest.raises(ConfigError, match=r"--set tasks: not valid YAML"):
        parse_overrides(["tasks={a: 1, a: 2}"])


def test_every_shipped_yaml_reads_as_before():
    files = [p for d in ("configs", "launch", "robot_rl", "sim", "calibration", "tests/fixtures")
             for p in (ROOT / d).rglob("*.yaml")]
    assert len(files) > 10
    for p in files:
        assert load_yaml(p) == yaml.safe_load(p.read_text()), p


def test_no_other_yaml_reader_in_the_packages():
    reader = re.compile(r"yaml\.(safe_load|load|full_load|unsafe_load)\(")
    found = [f"{p.relative_to(ROOT)}" for d in ("robot_rl", "sim", "calibration", "ros_nodes")
             for p in (ROOT / d).rglob("*.py") if reader.search(p.read_text()) and p.name != "config.py"]
    assert found == [], f"read YAML with robot_rl.config.load_yaml / parse_yaml instead: {found}"
