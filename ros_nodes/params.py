"""Declare a node's ROS parameters from its typed config, and keep them valid.

The config model is the only source of defaults: :class:`NodeParams` declares one parameter per
(flattened) field with the model's default and description, reads back what parameter files and
``-p name:=value`` overrides set, and validates the whole set through the model. A bad value at
start-up raises :class:`~robot_rl.errors.ConfigError` naming the field; a bad runtime change
(``ros2 param set``) is rejected by the set-parameters callback with the same message, and the
node keeps its old, valid config. An unknown name is an error unless it is rclpy's own
(``use_sim_time``, ``qos_overrides.*``) or came only from a shared ``/**`` section of a parameter
file (meant for the other nodes of the graph).
"""

from __future__ import annotations

import array
import sys
from collections.abc import Callable, Collection, Sequence
from typing import Any, Generic, TypeVar

from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter

from robot_rl.config import StrictConfig, load_yaml, validate_config
from robot_rl.errors import ConfigError
from robot_rl.ros_config.params_file import (is_standard_parameter, param_names_in_args, parameter_fields, params_files_in_args,
                                             shared_only_names, unflatten)

C = TypeVar("C", bound=StrictConfig)


def _plain(value: Any) -> Any:
    # Array parameters come back as array.array or tuples; the models want lists.
    if isinstance(value, (array.array, tuple)):
        return list(value)
    return value


class NodeParams(Generic[C]):
    """The ROS parameters of ``node``, bound to the config model ``model``.

    :param static: top-level field names that cannot change at runtime (declared read-only),
        e.g. a camera's serial number; everything else may change and ``on_change`` is called
        with the new config after it validated.
    :param args: the command line whose ``--params-file`` arguments reached the node (default
        ``sys.argv``, what rclpy.init parsed); names those files give the node only through a
        ``/**`` section are not unknown.
    """

    def __init__(self, node: Node, model: type[C], on_change: Callable[[C], None] | None = None,
                 static: Collection[str] = (), args: Sequence[str] | None = None) -> None:
        self._node = node
        self._args = list(sys.argv if args is None else args)
        self._model = model
        self._on_change = on_change
        self._fields = {f.name: f for f in parameter_fields(model)}
        for f in self._fields.values():
            descriptor = ParameterDescriptor(
                name=f.name, description=f.description,
                # The model, not rclpy, decides what a valid value is (1 for a float is fine).
                dynamic_typing=True,
                read_only=f.name.split(".", 1)[0] in static,
            )
            node.declare_parameter(f.name, f.default, descriptor)
        values = {name: _plain(node.get_parameter(name).value) for name in self._fields}
        self.config: C = self._validate(values)
        self._undeclared_overrides()
        node.add_on_set_parameters_callback(self._on_set)

    def _validate(self, flat: dict[str, Any]) -> C:
        return validate_config(self._model, unflatten(flat), f"node '{self._node.get_name()}' parameters")

    def _undeclared_overrides(self) -> None:
        # A misspelt key in a parameter file would otherwise be silently ignored. rclpy keeps the
        # overrides (parameter files, -p) in a private dict and has no public accessor for it.
        overrides = getattr(self._node, "_parameter_overrides", {})
        shared: set[str] = set()
        for path in params_files_in_args(self._args):
            shared |= shared_only_names(load_yaml(path), self._node.get_name(), self._node.get_namespace(), path)
        shared -= param_names_in_args(self._args)  # -p name:=value is addressed to this node
        unknown = sorted(n for n in set(overrides) - set(self._fields) - shared if not is_standard_parameter(n))
        if unknown:
            raise ConfigError(f"node '{self._node.get_name()}' parameters: unknown parameter(s) "
                              f"{', '.join(unknown)}; allowed: {', '.join(sorted(self._fields))}")

    def _on_set(self, params: list[Parameter]) -> SetParametersResult:
        flat = {name: _plain(self._node.get_parameter(name).value) for name in self._fields}
        for p in params:
            if p.name not in self._fields:
                continue  # use_sim_time and friends are rclpy's
            if p.type_ == Parameter.Type.NOT_SET:
                return SetParametersResult(successful=False, reason=f"{p.name}: cannot be undeclared")
            flat[p.name] = _plain(p.value)
        try:
            config = self._validate(flat)
        except ConfigError as err:
            self._node.get_logger().warning(f"rejected parameter change: {err}")
            return SetParametersResult(successful=False, reason=str(err))
        self.config = config
        if self._on_change is not None:
            self._on_change(config)
        return SetParametersResult(successful=True)
