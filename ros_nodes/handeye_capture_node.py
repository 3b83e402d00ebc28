"""handeye_capture_node: saves hand-eye samples (camera image + end-effector pose) on request.

Subscribes to an image (``image_topic``, sensor_msgs/Image rgb8 or mono8) and the end-effector pose
(``pose_topic``, geometry_msgs/PoseStamped, base frame). Each call of the ``~/capture`` service
(std_srvs/Trigger) pairs the latest image with the robot pose at that image's stamp and writes it
to ``out_dir`` (``sample_NNN.png`` + ``samples.yaml``, see docs/calibration.md); the response says
what was saved or why not (no image yet, no pose near the image's stamp, robot moving).
Then: ``robot-rl calibrate handeye --samples OUT_DIR --mode ... --intrinsics camera.yaml``.
"""

from __future__ import annotations

import sys

from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_srvs.srv import Trigger

from calibration.capture import HandEyeCaptureConfig, PoseHistory, SampleRecorder
from calibration.transforms import make_T
from robot_rl.rotations import quat_to_matrix
from ros_nodes.run import run_node
from ros_nodes import qos
from ros_nodes.messages import msg_to_image, stamp_to_s
from ros_nodes.params import NodeParams


class HandEyeCaptureNode(Node):
    """See the module docstring."""

    def __init__(self) -> None:
        super().__init__("handeye_capture")
        self.params = NodeParams(self, HandEyeCaptureConfig, static=list(HandEyeCaptureConfig.model_fields))
        self.cfg: HandEyeCaptureConfig = self.params.config
        self.recorder = SampleRecorder(self.cfg.out_dir, self.cfg.board(), self.cfg.intrinsics_file)
        self.poses = PoseHistory()
        self.last_image: Image | None = None
        # Best effort hears both best-effort (camera_node's default) and reliable publishers. Only the
        # latest image matters, but every pose does: the pairing and the stillness check need the history.
        self.create_subscription(Image, self.cfg.image_topic, self._on_image, qos.SENSOR)
        pose_qos = QoSProfile(depth=200, reliability=ReliabilityPolicy.BEST_EFFORT)
        self.create_subscription(PoseStamped, self.cfg.pose_topic, self._on_pose, pose_qos)
        self.create_service(Trigger, "~/capture", self._on_capture)
        self.get_logger().info(
            f"capturing '{self.cfg.image_topic}' + '{self.cfg.pose_topic}' into {self.cfg.out_dir} "
            f"({len(self.recorder)} samples already there)"
        )

    def _on_image(self, msg: Image) -> None:
        self.last_image = msg

    def _on_pose(self, msg: PoseStamped) -> None:
        p, q = msg.pose.position, msg.pose.orientation
        try:
            T = make_T(quat_to_matrix([q.x, q.y, q.z, q.w]), [p.x, p.y, p.z])
        except ValueError as err:
            self.get_logger().warning(f"ignoring pose: {err}")
            return
        self.poses.add(stamp_to_s(msg.header.stamp), T)

    def _on_capture(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        response.success = False
        if self.last_image is None:
            response.message = f"no image received on '{self.cfg.image_topic}'"
            return response
        try:
            image = msg_to_image(self.last_image)
        except ValueError as err:
            response.message = f"bad image: {err}"
            return response
        found = self.poses.pose_at(stamp_to_s(self.last_image.header.stamp), self.cfg)
        if isinstance(found, str):
            response.message = found
        else:
            name = self.recorder.add(image, found, rgb=self.last_image.encoding == "rgb8")
            response.success = True
            response.message = f"saved {name} ({len(self.recorder)} samples)"
        self.get_logger().info(response.message)
        return response


def main(args: list[str] | None = None) -> int:
    """Console script ``handeye_capture``: ``handeye_capture --ros-args -p out_dir:=samples -p image_topic:=...``."""
    return run_node("handeye_capture", HandEyeCaptureNode, args)


if __name__ == "__main__":
    sys.exit(main())
