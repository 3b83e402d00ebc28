"""Rollout videos as H.264 MP4 that browsers and experiment trackers play.

OpenCV's ``mp4v`` (MPEG-4 part 2) plays in neither, and the opencv-python wheels ship no H.264
encoder, so videos are encoded with PyAV (``av``, FFmpeg's libraries with libx264 in its wheels;
``pip install robot_rl[sim]``): H.264 High profile, yuv420p (the pixel format browsers decode),
``+faststart`` so playback starts before the whole file has loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

from robot_rl.errors import ConfigError

CODEC = "libx264"
CRF = 18  # visually near-lossless; our frames are small (a 128x256 episode of 50 frames is ~50 KB)


def write_mp4(frames: Sequence[np.ndarray], path: str | Path, fps: float) -> Path:
    """Write RGB frames ``(H, W, 3) uint8`` (all one size) to an H.264 MP4 at ``fps`` frames per second.

    Odd sizes are padded by one black row/column (yuv420p needs even sizes).
    """
    try:
        import av
    except ImportError:
        raise ConfigError("writing videos needs PyAV: pip install 'av>=12' (or robot_rl[sim])") from None
    if not frames:
        raise ConfigError(f"{path}: no frames to write")
    h, w = frames[0].shape[:2]
    if any(f.shape != (h, w, 3) or f.dtype != np.uint8 for f in frames):
        raise ConfigError(f"{path}: every frame must be uint8 ({h}, {w}, 3) like the first")
    if not fps > 0:
        raise ConfigError(f"{path}: fps must be > 0, got {fps}")
    pad_h, pad_w = h % 2, w % 2
    path = Path(path)
    with av.open(str(path), mode="w", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream(CODEC, rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height = w + pad_w, h + pad_h
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(CRF), "profile": "high"}
        for f in frames:
            if pad_h or pad_w:
                f = np.pad(f, ((0, pad_h), (0, pad_w), (0, 0)))
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")))
        container.mux(stream.encode())  # flush the encoder's delayed frames
    return path
