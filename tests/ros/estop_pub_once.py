"""Stand-in for ``ros2 topic pub --once TOPIC std_msgs/Bool "data: true"`` (the ros2 CLI is not in
the pip wheels): the same default QoS (reliable, volatile, keep last 10), one message, a short
keep-alive, exit. It waits for a match as the CLI does, but publishes even without one, so a QoS
mismatch shows as the executor not stopping rather than as this script failing.

Unlike the CLI it waits until every subscription in the graph that this QoS can match is matched,
and the graph has shown no new one for SETTLE_S (given EXPECT, also until node EXPECT subscribes):
with several executors up, the first match may be another node's, and a message published then never
reaches the rest (a volatile publisher keeps nothing for late joiners). On a loaded machine the
graph fills in over seconds (seen: 2 of 6 subscriptions known after 3.3 s, the executor not among
them). Subscriptions that ask for transient local durability never match it. And before the CLI's
0.1 s keep-alive it waits (up to 5 s) until every reliable reader acknowledged the message.

Usage: python estop_pub_once.py TOPIC [EXPECT]   (ROS_DOMAIN_ID from the environment)
"""

import sys
import time

import rclpy
from rclpy.duration import Duration
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import Bool

ROS2_TOPIC_PUB_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                                reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)


SETTLE_S = 2.0  # no new subscription in the graph for this long: discovery is taken as complete
WAIT_S = 20.0  # publish anyway after this long, so a QoS mismatch shows as the subscriber not hearing it


def _matchable(node, topic: str, expect: str | None) -> int:
    """Subscriptions to ``topic`` a volatile publisher can match; 0 while ``expect`` has none yet."""
    infos = [i for i in node.get_subscriptions_info_by_topic(topic)
             if i.qos_profile.durability != DurabilityPolicy.TRANSIENT_LOCAL]
    if expect is not None and not any(i.node_name == expect for i in infos):
        return 0
    return len(infos)


def main() -> int:
    rclpy.init()
    node = rclpy.create_node("estop_pub_once")
    topic = sys.argv[1]
    expect = sys.argv[2] if len(sys.argv) > 2 else None
    pub = node.create_publisher(Bool, topic, ROS2_TOPIC_PUB_QOS)
    start = time.monotonic()
    known, changed = 0, start
    while time.monotonic() - start < WAIT_S:
        rclpy.spin_once(node, timeout_sec=0.05)
        now, count = time.monotonic(), _matchable(node, topic, expect)
        if count != known:
            known, changed = count, now
        if known and pub.get_subscription_count() >= known and now - changed >= SETTLE_S:
            break
    matched = pub.get_subscription_count()
    pub.publish(Bool(data=True))
    acked = pub.wait_for_all_acked(Duration(seconds=5.0))
    time.sleep(0.1)  # the CLI's default --keep-alive
    sys.stderr.write(f"published once to {topic} with {matched} matched subscription(s), "
                     f"{'acknowledged' if acked else 'NOT acknowledged within 5 s'}\n")
    node.destroy_node()
    rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
