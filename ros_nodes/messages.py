"""numpy <-> standard message conversions (no cv_bridge: it is not on pip).

Shapes: colour images (H, W, 3) uint8 rgb8 (bgr8/rgba8/bgra8/mono8 decoded to it by msg_to_rgb); depth (H, W) uint16 16UC1 [mm]; chunks (H, A) float32.
"""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Float32MultiArray, Header, MultiArrayDimension

from robot_rl.robot.colour import COLOUR_ENCODINGS, to_rgb8
from robot_rl.ros_config.camera_info import CameraCalibration
from robot_rl.wire.chunk_layout import chunk_checksum, chunk_dims, decode_chunk

_ENCODINGS = {"rgb8": (np.uint8, 3), "16UC1": (np.uint16, 1), "mono8": (np.uint8, 1),
              "bgr8": (np.uint8, 3), "rgba8": (np.uint8, 4), "bgra8": (np.uint8, 4)}


def stamp_to_s(stamp: Time) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def s_to_stamp(t: float) -> Time:
    sec = int(np.floor(t))
    return Time(sec=sec, nanosec=int(round((t - sec) * 1e9)) % 1_000_000_000)


def ns_to_stamp(ns: int) -> Time:
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def image_to_msg(array: np.ndarray, encoding: str, stamp: Time, frame_id: str) -> Image:
    """(H, W, C) uint8 as rgb8/bgr8/rgba8/bgra8, (H, W) uint8 as mono8 or (H, W) uint16 as 16UC1 -> Image."""
    dtype, channels = _ENCODINGS[encoding]
    array = np.ascontiguousarray(array, dtype=dtype)
    msg = Image()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.height, msg.width = int(array.shape[0]), int(array.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = msg.width * channels * array.itemsize
    msg.data = array.tobytes()
    return msg


def msg_to_image(msg: Image) -> np.ndarray:
    """sensor_msgs/Image -> (H, W, C) or (H, W) array as sent; raises ValueError on a bad encoding or size."""
    if msg.encoding not in _ENCODINGS:
        raise ValueError(f"unsupported encoding {msg.encoding!r}; expected one of {', '.join(_ENCODINGS)}")
    dtype, channels = _ENCODINGS[msg.encoding]
    row = msg.width * channels * np.dtype(dtype).itemsize
    if msg.step < row or len(msg.data) != msg.step * msg.height:
        raise ValueError(f"{msg.encoding} image {msg.width}x{msg.height}: step {msg.step} and "
                         f"{len(msg.data)} bytes do not fit")
    raw = np.frombuffer(bytes(msg.data), dtype=np.uint8).reshape(msg.height, msg.step)[:, :row]
    out = raw.copy().view(dtype)
    return out.reshape(msg.height, msg.width, channels) if channels > 1 else out.reshape(msg.height, msg.width)


def msg_to_rgb(msg: Image) -> np.ndarray:
    """A colour sensor_msgs/Image (rgb8, bgr8, rgba8, bgra8 or mono8) -> (H, W, 3) uint8 RGB.

    Raises ValueError on any other encoding (naming the allowed ones) or a size that does not fit.
    """
    if msg.encoding not in COLOUR_ENCODINGS:
        raise ValueError(f"unsupported encoding {msg.encoding!r} for a colour image; "
                         f"allowed: {', '.join(COLOUR_ENCODINGS)}")
    return to_rgb8(msg_to_image(msg), msg.encoding)


def camera_info_msg(cal: CameraCalibration, stamp: Time, frame_id: str) -> CameraInfo:
    msg = CameraInfo()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.width, msg.height = cal.image_width, cal.image_height
    msg.distortion_model = cal.distortion_model
    msg.d = [float(x) for x in cal.d]
    msg.k = [float(x) for x in cal.k]
    msg.r = [float(x) for x in cal.r]
    msg.p = [float(x) for x in cal.p]
    return msg


def chunk_to_msgs(chunk: np.ndarray, stamp: Time) -> tuple[Float32MultiArray, Header]:
    """(H, A) chunk + observation stamp -> (chunk message, stamp message); see robot_rl.wire.chunk_layout."""
    chunk = np.asarray(chunk, dtype=np.float32)
    h, a = chunk.shape
    msg = Float32MultiArray()
    msg.layout.dim = [MultiArrayDimension(label=lbl, size=size, stride=stride) for lbl, size, stride in chunk_dims(h, a)]
    msg.layout.data_offset = 0
    msg.data = chunk.ravel().tolist()
    header = Header(stamp=stamp, frame_id=chunk_checksum(chunk))
    return msg, header


def msg_to_chunk(msg: Float32MultiArray, expected: tuple[int, int]) -> tuple[np.ndarray | None, str]:
    """Float32MultiArray -> ((H, A) float32, "") or (None, why it was rejected)."""
    dims = [(d.label, int(d.size), int(d.stride)) for d in msg.layout.dim]
    return decode_chunk(dims, int(msg.layout.data_offset), np.asarray(msg.data, dtype=np.float32), expected)


def pose_to_arrays(msg: PoseStamped) -> tuple[np.ndarray, np.ndarray]:
    """PoseStamped -> (position (3,), quaternion (4,) x, y, z, w)."""
    p, q = msg.pose.position, msg.pose.orientation
    return np.array([p.x, p.y, p.z]), np.array([q.x, q.y, q.z, q.w])


def diagnostic_array(stamp: Time, name: str, hardware_id: str, level: bytes, message: str,
                     values: dict[str, object]) -> DiagnosticArray:
    """One DiagnosticStatus (``level`` is one of OK, WARN, ERROR, STALE) with ``values`` as strings."""
    status = DiagnosticStatus(level=level, name=name, message=message, hardware_id=hardware_id,
                              values=[KeyValue(key=k, value=str(v)) for k, v in values.items()])
    return DiagnosticArray(header=Header(stamp=stamp), status=[status])


OK, WARN, ERROR, STALE = (DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR, DiagnosticStatus.STALE)
