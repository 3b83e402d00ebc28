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
    files = [p for d in ("configs", "launch", "robot_rl", "sim", "calibration")
             for p in (ROOT / d).rglob("*.yaml")]
    assert len(files) > 10
    for p in files:
        assert load_yaml(p) == yaml.safe_load(p.read_text()), p


# Where the source tree may read YAML without robot_rl.yaml_loader, and why.
ALLOWED_READERS = {
    "robot_rl/yaml_loader.py": "the strict loader itself",
}
SOURCE_DIRS = ("robot_rl", "sim", "calibration", "ros_nodes", "launch", "bench", "scripts")
# yaml.safe_load(...), yaml.load(...), full_load, unsafe_load, the *_all variants, yaml.parse / compose,
# and `from yaml import safe_load` (which would dodge the dotted form).
YAML_READER = re.compile(r"\byaml\.(safe_load|load|full_load|unsafe_load|load_all|safe_load_all|full_load_all|"
                         r"unsafe_load_all|parse|compose|compose_all)\b|\bfrom\s+yaml\s+import\b[^\n]*(load|parse|compose)")


def _yaml_readers(paths) -> list[str]:
    return [p.relative_to(ROOT).as_posix() for p in paths if YAML_READER.search(p.read_text(errors="replace"))]


def test_no_other_yaml_reader_in_the_source_tree():
    files = [p for d in SOURCE_DIRS for p in (ROOT / d).rglob("*") if p.suffix in {".py", ".sh"} and p.is_file()]
    files += [ROOT / "setup.py", ROOT / "Makefile"]
    assert len(files) > 100
    found = sorted(set(_yaml_readers(files)) - set(ALLOWED_READERS))
    assert found == [], f"read YAML with robot_rl.config.load_yaml (files) / parse_yaml (text) instead: {found}"
    assert set(ALLOWED_READERS) <= set(_yaml_readers(files)), "an allow-list entry no longer reads YAML: drop it"


def test_the_reader_check_catches_every_spelling(tmp_path):
    spellings = ["yaml.safe_load(f)", "yaml.load(text, Loader=yaml.SafeLoader)", "yaml.full_load(s)",
                 "list(yaml.safe_load_all(s))", "from yaml import safe_load", "from yaml import CSafeLoader, load"]
    paths = []
    for i, line in enumerate(spellings):
        paths.append(tmp_path / f"reader_{i}.py")
        paths[-1].write_text(f"import yaml\n{line}\n")
    writer = tmp_path / "writer.py"
    writer.write_text("import yaml\nyaml.safe_dump({'a': 1})\n")
    assert len([p for p in paths if YAML_READER.search(p.read_text())]) == len(spellings)
    assert not YAML_READER.search(writer.read_text())


def test_a_file_that_is_not_a_mapping_is_refused_with_its_name(tmp_path):
    listed = tmp_path / "spec.yaml"
    listed.write_text("- name: agentview\n- name: wrist\n")
    with pytest.raises(ConfigError, match=r"spec.yaml: the top level must be a mapping of keys to values, got a list"):
        load_yaml(listed)
    scalar = tmp_path / "train.yaml"
    scalar.write_text("quickstart\n")
    with pytest.raises(ConfigError, match=r"train.yaml: the top level must be a mapping .* got a str \('quickstart'\)"):
        load_yaml(scalar)
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing set yet\n")
    assert load_yaml(empty) == {}
    with pytest.raises(ConfigError, match=r"missing.yaml: no such config file"):
        load_yaml(tmp_path / "missing.yaml")
