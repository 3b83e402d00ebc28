"""robot_rl.video: rollout videos are H.264 MP4 (browser-playable), decoded back by FFmpeg."""

from __future__ import annotations

import numpy as np
import pytest

av = pytest.importorskip("av")

from robot_rl.errors import ConfigError  # noqa: E402
from robot_rl.video import write_mp4  # noqa: E402


def _frames(n: int, h: int, w: int) -> list[np.ndarray]:
    frames = []
    for i in range(n):
        f = np.zeros((h, w, 3), dtype=np.uint8)
        f[:, : w // 2] = (200, 30, 30)       # red left half
        f[:, w // 2:] = (30, 30, 200)        # blue right half
        f[(i * 3) % h, :] = 255              # a moving white line
        frames.append(f)
    return frames


def test_the_video_is_h264_yuv420p_with_every_frame(tmp_path):
    frames = _frames(20, 128, 256)
    path = write_mp4(frames, tmp_path / "ep.mp4", fps=1.25)  # tabletop: 10 Hz / chunks of 8
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p" and (stream.width, stream.height) == (256, 128)
        assert stream.average_rate == pytest.approx(1.25)
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    assert len(decoded) == 20
    err = np.abs(decoded[5].astype(int) - frames[5].astype(int))
    assert err.mean() < 3 and np.median(err) <= 2  # near-lossless colours, the red/blue split where it was


def test_odd_sizes_are_padded_and_bad_input_is_refused(tmp_path):
    path = write_mp4(_frames(3, 47, 63), tmp_path / "odd.mp4", fps=10)
    with av.open(str(path)) as container:
        assert (container.streams.video[0].width, container.streams.video[0].height) == (64, 48)
    with pytest.raises(ConfigError, match="no frames"):
        write_mp4([], tmp_path / "x.mp4", fps=10)
    with pytest.raises(ConfigError, match="uint8"):
        write_mp4([np.zeros((8, 8, 3), np.uint8), np.zeros((8, 10, 3), np.uint8)], tmp_path / "x.mp4", fps=10)
