"""The factory that picks camera_node's frame source (the interface: ``frame.py``).

Each driver is imported only when its source is asked for, so a workstation without pyrealsense2 or
OpenCV can still run the others.
"""

from __future__ import annotations

from robot_rl.ros_config.camera import CameraNodeConfig
from ros_nodes.camera.frame import FrameSource


def make_source(config: CameraNodeConfig) -> FrameSource:
    """The source ``config.source`` names; imports its driver only then."""
    if config.source == "realsense":
        from ros_nodes.camera.realsense import RealSenseSource
        return RealSenseSource(config)
    if config.source == "software":
        from ros_nodes.camera.software import SoftwareDeviceSource
        return SoftwareDeviceSource(config)
    from ros_nodes.camera.opencv_source import OpenCVSource
    return OpenCVSource(config)
