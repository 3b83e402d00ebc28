"""Stand-in for the vendor drivers a robot profile talks to, which cannot run here (no robot, no
camera, no vendor packages on pip): the same topic names, message types, QoS, frames, encodings
and units as they use, nothing else. Emulated:

- realsense-ros 4.x (rs_launch.py, two cameras: the default ``camera/camera`` and ``camera_name:=wrist``):
  ``/camera/<name>/color/image_raw`` (sensor_msgs/Image, 640x480, ENCODING, frame
  ``<name>_color_optical_frame``) and ``.../color/camera_info``, sensor-data QoS.
- ur: ur_robot_driver's joint_state_broadcaster ``/joint_states`` (reliable; shoulder_pan_joint ..
  wrist_3_joint, plus the Robotiq 2F-85 knuckle in rad, 0 open .. 0.8 closed), the tf-to-pose relay's
  ``/robot_rl/ee_pose`` (tool0 in base_link, PoseStamped, sensor-data QoS); it listens like MoveIt Servo on
  ``/servo_node/delta_twist_cmds`` (TwistStamped, reliable) and like a gripper relay on
  ``/robot_rl/command/gripper`` (Float64).
- franka: franka_ros2's ``/joint_states`` (reliable; fr3_joint1..7, fr3_finger_joint1/2 in m, 0 .. 0.04
  each); it listens like the joint_trajectory_controller on ``/fr3_arm_controller/joint_trajectory``
  (JointTrajectory, reliable) and on ``/robot_rl/command/gripper``.

Every command it receives is appended to OUT as one JSON line (topic, frame_id, values).

Usage: python driver_emulator.py {ur,franka} ENCODING OUT   (ROS_DOMAIN_ID from the environment)
"""

import json
import sys

import numpy as np
import rclpy
import rclpy.executors
from geometry_msgs.msg import PoseStamped, TwistStamped
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float64
from trajectory_msgs.msg import JointTrajectory

RELIABLE = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)  # rclcpp's default for publishers and controllers
UR_JOINTS = ["shoulder_pan_joint", "shoulder_lift_joint", "elbow_joint", "wrist_1_joint", "wrist_2_joint",
             "wrist_3_joint"]
UR_HOME = [0.0, -1.57, 1.57, -1.57, -1.57, 0.0]
FR3_JOINTS = [f"fr3_joint{i}" for i in range(1, 8)]
FR3_HOME = [0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785]
W, H = 640, 480


def frame(encoding: str, t: float) -> tuple[bytes, int]:
    """A 640x480 test picture in ``encoding``: data and step."""
    y, x = np.mgrid[0:H, 0:W]
    rgb = np.stack([(x * 255 // W), (y * 255 // H), np.full_like(x, int(t * 40) % 256)], axis=2).astype(np.uint8)
    pixels = {"rgb8": rgb, "bgr8": rgb[:, :, ::-1], "mono8": rgb[:, :, 0],
              "rgba8": np.concatenate([rgb, np.full((H, W, 1), 255, np.uint8)], axis=2)}[encoding]
    pixels = np.ascontiguousarray(pixels)
    return pixels.tobytes(), W * (pixels.shape[2] if pixels.ndim == 3 else 1)


def main() -> int:
    robot, encoding, out_path = sys.argv[1:4]
    rclpy.init()
    node = rclpy.create_node(f"{robot}_driver_emulator")
    out = open(out_path, "a", buffering=1)

    def record(topic: str, frame_id: str, values: dict) -> None:
        out.write(json.dumps({"topic": topic, "frame_id": frame_id, **values}) + "\n")

    cams = {}
    for name in ("camera", "wrist"):
        cams[name] = (node.create_publisher(Image, f"/camera/{name}/color/image_raw", qos_profile_sensor_data),
                      node.create_publisher(CameraInfo, f"/camera/{name}/color/camera_info", qos_profile_sensor_data))
    joints_pub = node.create_publisher(JointState, "/joint_states", RELIABLE)
    if robot == "ur":
        names, positions = [*UR_JOINTS, "robotiq_85_left_knuckle_joint"], [*UR_HOME, 0.4]
        pose_pub = node.create_publisher(PoseStamped, "/robot_rl/ee_pose", qos_profile_sensor_data)
        node.create_subscription(TwistStamped, "/servo_node/delta_twist_cmds", lambda m: record(
            "/servo_node/delta_twist_cmds", m.header.frame_id,
            {"linear": [m.twist.linear.x, m.twist.linear.y, m.twist.linear.z],
             "angular": [m.twist.angular.x, m.twist.angular.y, m.twist.angular.z]}), RELIABLE)
    else:
        names, positions = [*FR3_JOINTS, "fr3_finger_joint1", "fr3_finger_joint2"], [*FR3_HOME, 0.02, 0.02]
        pose_pub = None
        node.create_subscription(JointTrajectory, "/fr3_arm_controller/joint_trajectory", lambda m: record(
            "/fr3_arm_controller/joint_trajectory", m.header.frame_id,
            {"joint_names": list(m.joint_names), "points": [list(p.positions) for p in m.points],
             "current": FR3_HOME}), RELIABLE)
    node.create_subscription(Float64, "/robot_rl/command/gripper",
                             lambda m: record("/robot_rl/command/gripper", "", {"data": m.data}), RELIABLE)

    sent = {"state": 0, "images": 0}

    def publish_state() -> None:
        sent["state"] += 1
        stamp = node.get_clock().now().to_msg()
        js = JointState(name=names, position=[float(p) for p in positions])
        js.header.stamp = stamp
        joints_pub.publish(js)
        if pose_pub is not None:
            pose = PoseStamped()
            pose.header.stamp, pose.header.frame_id = stamp, "base_link"  # tool0 in base_link
            pose.pose.position.x, pose.pose.position.y, pose.pose.position.z = 0.5, 0.0, 0.3
            pose.pose.orientation.x, pose.pose.orientation.w = 1.0, 0.0  # tool pointing down
            pose_pub.publish(pose)

    def publish_images() -> None:
        sent["images"] += 1
        now = node.get_clock().now()
        data, step = frame(encoding, now.nanoseconds * 1e-9)
        for name, (image_pub, info_pub) in cams.items():
            img = Image(height=H, width=W, encoding=encoding, is_bigendian=0, step=step, data=data)
            img.header.stamp, img.header.frame_id = now.to_msg(), f"{name}_color_optical_frame"
            image_pub.publish(img)
            info = CameraInfo(height=H, width=W, distortion_model="plumb_bob", d=[0.0] * 5,
                              k=[615.0, 0, 320.0, 0, 615.0, 240.0, 0, 0, 1],
                              r=[1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0],
                              p=[615.0, 0, 320.0, 0, 0, 615.0, 240.0, 0, 0, 0, 1, 0])
            info.header = img.header
            info_pub.publish(info)

    def report() -> None:
        # Shown with the nodes' logs when a test fails: what was published and who was listening.
        matched = {pub.topic_name: pub.get_subscription_count()
                   for pub in [joints_pub, *([pose_pub] if pose_pub else []), *(p for pair in cams.values() for p in pair)]}
        print(f"published {sent['state']} states, {sent['images']} image pairs; subscribers matched {matched}", flush=True)

    node.create_timer(5.0, report)
    node.create_timer(0.02, publish_state)   # 50 Hz (UR: 500 Hz, FR3: 1 kHz; lower here to spare the CPU)
    node.create_timer(1 / 15, publish_images)  # 15 fps (realsense-ros: 30 by default)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass
    out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
