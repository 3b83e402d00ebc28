"""The one YAML reader of the project: safe types only, repeated keys and non-mapping files refused.

PyYAML keeps the last value of a repeated key without a word, so a config that sets a field twice
would silently run with whichever came last; this loader names the file, the line and the key
instead. Every YAML file the project reads (configs, specs, ROS parameter files, calibration
results, launch files' look-ups, benchmarks) goes through :func:`load_yaml`; YAML text from
elsewhere (``KEY=VALUE`` overrides on command lines, a spec embedded in an ONNX file) through
:func:`parse_yaml`. tests/test_config.py refuses any other YAML reader in the source tree.

Only PyYAML and :mod:`robot_rl.errors` are imported, so launch files evaluated by a ROS
distribution's Python (which has PyYAML, not pydantic or torch) can use it too;
:mod:`robot_rl.config` re-exports both functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from robot_rl.errors import ConfigError


class _StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a mapping holding the same key twice.

    Merge keys (``<<: *base``) may still be overridden: only keys written out in the mapping
    itself are compared.
    """

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=deep)
                try:
                    duplicate = key in seen
                except TypeError:  # an unhashable key: PyYAML's own constructor reports it
                    continue
                if duplicate:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping", node.start_mark, f"found duplicate key {key!r}",
                        key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str, source: str = "config") -> Any:
    """Parse YAML ``text`` with the strict loader (safe types only, no repeated keys); any top-level type.

    Raises :class:`ConfigError` naming ``source`` and the line when the text is not valid YAML.
    """
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - _StrictLoader is a SafeLoader
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"{source}: not valid YAML{where}: {err.problem or err}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{source}: not valid YAML: {err}") from None


def load_yaml(path: str | Path) -> dict[Any, Any]:
    """Read the YAML file ``path`` into a mapping, naming the file in every error.

    An empty file (or one holding only comments) reads as ``{}``; a file whose top level is a
    list or a scalar is refused: every config file of the project is a mapping of keys to values.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    data = parse_yaml(path.read_text(), str(path))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys to values, "
                          f"got a {type(data).__name__} ({str(data)[:60]!r})")
    return data
