"""The panel (success_label_node, a real process over DDS) hears an e-stop from any publisher, like
the executor: a volatile one-shot ``ros2 topic pub`` (stand-in script, the CLI is not on pip) and a
best-effort publisher. Before the fix it subscribed latched only and missed both."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from panel_harness import listen_diagnostics
from std_msgs.msg import Bool

from ros_harness import NodeProcess, Probe, ros_env
from robot_rl.wire import topics
from ros_nodes import qos

pytestmark = pytest.mark.ros


@pytest.fixture
def panel(tmp_path, domain_id, node_logs):
    params = {"success_label_node": {"ros__parameters": {"host": "127.0.0.1", "port": 0}}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    env = ros_env(domain_id, large_data=False)
    proc = NodeProcess("success_label_node", ["--params-file", str(tmp_path / "params.yaml")], env, node_logs)
    probe = Probe(domain_id, large_data=False)
    seen = listen_diagnostics(probe.node).setdefault("success_label_node", {})  # filled in place
    try:
        probe.spin_until(lambda: "estop" in seen, 30, "the panel's diagnostics")
        assert seen["estop"] == "False"
        yield proc, probe, seen, env
    finally:
        proc.stop()
        probe.close()


def test_a_volatile_one_shot_publisher_like_ros2_topic_pub_reaches_the_panel(panel):
    proc, probe, seen, env = panel
    pub = subprocess.run([sys.executable, str(Path(__file__).with_name("estop_pub_once.py")), topics.ESTOP],
                         env=env, capture_output=True, text=True, timeout=60)
    assert pub.returncode == 0, pub.stdout + pub.stderr
    assert "with 0 matched" not in pub.stderr, pub.stderr  # the panel matched the volatile publisher
    probe.spin_until(lambda: seen["estop"] == "True", 10, "the panel reporting the e-stop\n" + proc.log())


def test_a_best_effort_publisher_reaches_the_panel(panel):
    proc, probe, seen, _env = panel
    pub = probe.node.create_publisher(Bool, topics.ESTOP, qos.SENSOR)
    probe.spin_until(lambda: pub.get_subscription_count() > 0, 10, "a subscription matching a best-effort publisher")
    # Best effort may drop a message sent just after matching; such publishers repeat (e.g. a pedal at 10 Hz).
    probe.node.create_timer(0.1, lambda: pub.publish(Bool(data=True)))
    probe.spin_until(lambda: seen["estop"] == "True", 10, "the panel reporting the e-stop\n" + proc.log())
