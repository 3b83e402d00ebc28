"""Topic and service names of the robot_rl ROS 2 graph (docs/ros.md has the full table).

Kept in the core, free of rclpy, so configs can default to them and tests can check launch
files against them without ROS installed.
"""

ACTION_CHUNK = "/robot_rl/action_chunk"              # std_msgs/Float32MultiArray, [H, A] layout
ACTION_CHUNK_STAMP = "/robot_rl/action_chunk_stamp"  # std_msgs/Header: observation stamp + chunk checksum
ESTOP = "/robot_rl/estop"                            # std_msgs/Bool, True latches the e-stop
TRIGGER_ESTOP = "/robot_rl/trigger_estop"            # std_srvs/Trigger: latches the e-stop like ESTOP True
CLEAR_ESTOP = "/robot_rl/clear_estop"                # std_srvs/Trigger
POLICY_HEARTBEAT = "/robot_rl/heartbeat/policy"      # std_msgs/Header, published by policy_node
PANEL_HEARTBEAT = "/robot_rl/heartbeat/panel"        # std_msgs/Header, published by the label panel
EE_POSE = "/robot_rl/ee_pose"                        # geometry_msgs/PoseStamped, from the robot driver
COMMAND_POSE = "/robot_rl/command/pose"              # geometry_msgs/PoseStamped target
COMMAND_TWIST = "/robot_rl/command/twist"            # geometry_msgs/TwistStamped (MoveIt Servo)
COMMAND_JOINT_TRAJECTORY = "/robot_rl/command/joint_trajectory"  # trajectory_msgs/JointTrajectory (ros2_control)
COMMAND_GRIPPER = "/robot_rl/command/gripper"        # std_msgs/Float64 in [-1 close, +1 open]
DIAGNOSTICS = "/diagnostics"                         # diagnostic_msgs/DiagnosticArray


def image_topic(camera: str) -> str:
    """``<camera>/image_raw``: sensor_msgs/Image, rgb8."""
    return f"{camera}/image_raw"


def parse_image_topics(entries: list[str]) -> dict[str, str]:
    """``["agentview=/camera/camera/color/image_raw"]`` -> ``{"agentview": "/camera/..."}``.

    Lets a node take a camera's images from another driver's topic (realsense-ros publishes
    ``/<namespace>/<name>/color/image_raw``) instead of ``<camera>/image_raw``; ValueError names a bad entry.
    """
    out: dict[str, str] = {}
    for entry in entries:
        camera, sep, topic = (part.strip() for part in entry.partition("="))
        if not sep or not camera or not topic or " " in topic:
            raise ValueError(f"image_topics entry {entry!r}: expected CAMERA=TOPIC, "
                             "e.g. agentview=/camera/camera/color/image_raw")
        if camera in out:
            raise ValueError(f"image_topics: camera {camera!r} is given twice")
        out[camera] = topic
    return out


def resolve_image_topics(cameras: list[str], entries: list[str]) -> dict[str, str]:
    """Camera -> image topic for ``cameras``: ``entries`` (CAMERA=TOPIC) where given, else ``<camera>/image_raw``.

    ValueError when an entry names a camera that is not in ``cameras``.
    """
    given = parse_image_topics(entries)
    unknown = sorted(set(given) - set(cameras))
    if unknown:
        raise ValueError(f"image_topics names camera(s) {unknown} that are not among {cameras}")
    return {c: given.get(c, image_topic(c)) for c in cameras}


def camera_info_topic(camera: str) -> str:
    """``<camera>/camera_info``: sensor_msgs/CameraInfo."""
    return f"{camera}/camera_info"


def depth_topic(camera: str) -> str:
    """``<camera>/depth/image_raw``: sensor_msgs/Image, 16UC1 in millimetres, aligned to colour."""
    return f"{camera}/depth/image_raw"
JOINT_STATES = "/joint_states"                       # sensor_msgs/JointState, from the robot driver
INSTRUCTION = "/robot_rl/instruction"                # std_msgs/String, latched (reliable + transient local)
EPISODE_EVENT = "/robot_rl/episode_event"            # std_msgs/String holding one EpisodeEvent as JSON
EPISODE_ACK = "/robot_rl/episode_ack"                # std_msgs/String: EpisodeAck JSON, policy_node's answer to a start
POLICY_VERSION = "/robot_rl/policy_version"          # std_msgs/Int64, latched: version of the active policy
RELOAD_POLICY = "/robot_rl/reload_policy"            # std_srvs/Trigger: hot-swap the checkpoint parameter
SIM_RESET = "/sim_robot/reset"                       # std_srvs/Trigger: start the sim robot's next episode
SIM_VERDICT = "/sim_robot/verdict"                   # std_msgs/String, latched: SimVerdict JSON, the stand-in's truth
CLOCK = "/clock"                                     # rosgraph_msgs/Clock from the stand-in (publish_clock): sim time
HW_SCHEDULE = "/robot_rl/hw_schedule"                # std_msgs/String, latched: HwSchedule JSON from hw-train
HW_REQUEST = "/robot_rl/hw_request"                  # std_msgs/String: HwRequest JSON from the panel to hw-train
