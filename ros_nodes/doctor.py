"""``robot-rl doctor GRAPH``: look at a RUNNING graph and report, in words, what stops it working.

What the nodes need comes from the graph's parameter files (the same files, profile and ``--set``
overrides as ``robot-rl up``); what the graph does comes from DDS: topics and their types, every
publisher's and subscription's node and reliability (rclpy graph introspection), joint names seen on
the joint states topic and image sizes seen on the policy's image topics during ``--wait`` seconds.
The judging is :func:`robot_rl.ros_config.graph_check.check_running` (pure, unit-tested); this file
only gathers the facts.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from robot_rl.wire import topics
from robot_rl.ros_config.graph_check import RunningGraph, check_running
from robot_rl.spec import load_spec
from robot_rl.up_cli import resolve_graph


def gather(domain_id: int | None, image_topics: list[str], joint_states_topic: str, wait_s: float) -> RunningGraph:
    """Discover the running graph for ``wait_s`` seconds from a private rclpy context."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import ReliabilityPolicy, qos_profile_sensor_data
    from sensor_msgs.msg import Image, JointState

    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain_id)
    node = rclpy.create_node(f"robot_rl_doctor_{os.getpid()}", context=context)
    seen = RunningGraph()

    def on_joints(msg: JointState) -> None:
        seen.joint_names = list(msg.name)

    def on_image(topic: str, msg: Image) -> None:
        seen.image_sizes[topic] = (int(msg.width), int(msg.height))

    # Best effort hears every publisher, reliable or not.
    node.create_subscription(JointState, joint_states_topic, on_joints, qos_profile_sensor_data)
    for topic in image_topics:
        node.create_subscription(Image, topic, lambda m, t=topic: on_image(t, m), qos_profile_sensor_data)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    end = time.monotonic() + wait_s
    while time.monotonic() < end:
        executor.spin_once(timeout_sec=0.05)

    def rel(info) -> str:
        return "best_effort" if info.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT else "reliable"

    me = node.get_name()
    for topic, types in node.get_topic_names_and_types():
        seen.types[topic] = list(types)
        seen.publishers[topic] = [(i.node_name, rel(i)) for i in node.get_publishers_info_by_topic(topic)
                                  if i.node_name != me]
        seen.subscribers[topic] = [(i.node_name, rel(i)) for i in node.get_subscriptions_info_by_topic(topic)
                                   if i.node_name != me]
    executor.shutdown()
    node.destroy_node()
    rclpy.try_shutdown(context=context)
    return seen


def _doctor(args: argparse.Namespace) -> int:
    path, graph, configs = resolve_graph(args.graph, args.profile, args.set)
    policy = next((configs[n.name] for n in graph.nodes if n.executable == "policy_node"), None)
    if policy is None:
        print(f"robot-rl doctor: {path} has no policy_node to check against", file=sys.stderr)
        return 2
    spec = load_spec(policy.spec)
    image_topics = topics.resolve_image_topics(spec.camera_names, policy.image_topics)
    seen = gather(args.domain_id, list(image_topics.values()), policy.joint_states_topic, args.wait)
    findings = check_running(seen, spec, image_topics, policy.proprio_sources)
    errors = [f for f in findings if f.level == "error"]
    running = sorted({n for pubs in (*seen.publishers.values(), *seen.subscribers.values()) for n, _ in pubs})
    print(f"robot-rl doctor: {len(running)} nodes seen ({', '.join(running) or 'none'}); "
          f"{len(errors)} error(s), {len(findings) - len(errors)} warning(s)")
    for f in findings:
        print(f"  {f}")
    if not running:
        domain = args.domain_id if args.domain_id is not None else os.environ.get("ROS_DOMAIN_ID", "0")
        print(f"  error: no node seen on ROS_DOMAIN_ID {domain}: is the graph running (robot-rl up, ros2 launch) "
              "with the same domain and transports?")
        return 1
    return 1 if errors else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "doctor", help="check a running ROS 2 graph: missing publishers, QoS, joint names, image sizes",
        description="Compare what a graph's parameter files say the nodes need (as robot-rl up reads them) with "
                    "what the running graph shows over DDS, and report the problems in words.")
    parser.add_argument("graph", nargs="?", default="robot", help="graph name or path (default: robot)")
    parser.add_argument("--profile", default="", metavar="NAME", help="robot profile, as for robot-rl up")
    parser.add_argument("--set", action="append", default=[], metavar="NODE.PARAM=VALUE",
                        help="override one parameter, as for robot-rl up")
    parser.add_argument("--domain-id", type=int, default=None, help="ROS_DOMAIN_ID (default: the environment's)")
    parser.add_argument("--wait", type=float, default=3.0, help="seconds to discover and sample (default 3)")
    parser.set_defaults(func=_doctor)
