"""Stand-in for ``ros2 topic pub --once TOPIC std_msgs/Bool "data: true"`` (the ros2 CLI is not in
the pip wheels): the same default QoS (reliable, volatile, keep last 10), one message, a short
keep-alive, exit. It waits for matches as the CLI does (until they settle), but publishes even without one, so a QoS
mismatch shows as the executor not stopping rather than as this script failing.

Usage: python estop_pub_once.py TOPIC   (ROS_DOMAIN_ID from the environment)
"""

import sys
import time

import rclpy
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import Bool

ROS2_TOPIC_PUB_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                                reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)


def main() -> int:
    rclpy.init()
    node = rclpy.create_node("estop_pub_once")
    pub = node.create_publisher(Bool, sys.argv[1], ROS2_TOPIC_PUB_QOS)
    # Wait until discovery settles (no new match for a second): the graph has several subscribers (every
    # executor subscribes twice) and publishing at the first match can miss the one the test watches.
    end = time.monotonic() + 10.0
    matched, since = 0, time.monotonic()
    while time.monotonic() < end and (matched == 0 or time.monotonic() - since < 1.0):
        rclpy.spin_once(node, timeout_sec=0.05)
        if pub.get_subscription_count() != matched:
            matched, since = pub.get_subscription_count(), time.monotonic()
    pub.publish(Bool(data=True))
    time.sleep(0.1)  # the CLI's default --keep-alive
    sys.stderr.write(f"published once to {sys.argv[1]} with {matched} matched subscription(s)\n")
    node.destroy_node()
    rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
