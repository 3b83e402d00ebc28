"""Stand-in for ``ros2 topic pub --once TOPIC std_msgs/Bool "data: true"`` (the ros2 CLI is not in
the pip wheels): the same default QoS (reliable, volatile, keep last 10), one message, a short
keep-alive, exit. It waits for a match as the CLI does, but publishes even without one, so a QoS
mismatch shows as the executor not stopping rather than as this script failing.

Unlike the CLI it waits until every subscription in the graph that this QoS can match is matched
(and, given EXPECT, until node EXPECT subscribes): with several executors up, the first match may be
another node's, and a message published then never reaches the rest (a volatile publisher keeps
nothing for late joiners). Subscriptions that ask for transient local durability never match it.

Usage: python estop_pub_once.py TOPIC [EXPECT]   (ROS_DOMAIN_ID from the environment)
"""

import sys
import time

import rclpy
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import Bool

ROS2_TOPIC_PUB_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                                reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)


def _all_matched(node, pub, topic: str, expect: str | None) -> bool:
    """True when every subscription to ``topic`` that can match ``pub`` has (at least one; ``expect``'s among them)."""
    infos = node.get_subscriptions_info_by_topic(topic)
    matchable = [i for i in infos if i.qos_profile.durability != DurabilityPolicy.TRANSIENT_LOCAL]
    if not matchable or (expect is not None and not any(i.node_name == expect for i in matchable)):
        return False
    return pub.get_subscription_count() >= len(matchable)


def main() -> int:
    rclpy.init()
    node = rclpy.create_node("estop_pub_once")
    topic = sys.argv[1]
    expect = sys.argv[2] if len(sys.argv) > 2 else None
    pub = node.create_publisher(Bool, topic, ROS2_TOPIC_PUB_QOS)
    end = time.monotonic() + 10.0
    while not _all_matched(node, pub, topic, expect) and time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.05)
    matched = pub.get_subscription_count()
    pub.publish(Bool(data=True))
    time.sleep(0.1)  # the CLI's default --keep-alive
    sys.stderr.write(f"published once to {sys.argv[1]} with {matched} matched subscription(s)\n")
    node.destroy_node()
    rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
