"""Operator panel costs: JPEG encoding of camera views, and command / state-push latency of the server.

1. JPEG: a 480x640 rgb8 frame (smooth scene + sensor noise) encoded as the label node does
   (``encode_jpeg``), full size and downscaled to 320 px, next to the raw frame's size: the ms per
   frame bound the camera-view rate the node can afford, the bytes the page's bandwidth.
2. Commands: the real :class:`PanelServer` (aiohttp, own thread) over a :class:`PanelMachine`
   backend, no ROS. Round trip of ``start`` / ``abort`` pairs over HTTP (``POST /api/command``,
   one kept-alive connection) and over the WebSocket, and the delay from a command's reply to the
   state push reaching a second page (what keeps two pages consistent).

    .venv/bin/python bench/panel.py            # ~10 s
    .venv/bin/python bench/panel.py --n 500
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from robot_rl.panel import PanelError, PanelMachine, parse_command  # noqa: E402
from robot_rl.ros_config.label import LabelNodeConfig  # noqa: E402


def frame() -> np.ndarray:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:480, 0:640]
    scene = np.stack([x / 640 * 200, y / 480 * 180, 90 + 60 * np.sin(x / 40)], axis=-1)
    return np.clip(scene + rng.normal(0, 4, scene.shape), 0, 255).astype(np.uint8)  # (480, 640, 3)


def bench_jpeg(reps: int) -> None:
    from ros_nodes.label.jpeg import encode_jpeg
    img = frame()
    print(f"JPEG of a 480x640 rgb8 frame (raw {img.nbytes / 1024:.0f} KiB), {reps} reps")
    for width, quality in ((0, 70), (320, 70), (0, 90)):
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            jpeg = encode_jpeg(img, quality, width)
            times.append(time.perf_counter() - t)
        ms = np.array(times) * 1e3
        print(f"  width {width or 640:>3} q{quality}: p50 {np.percentile(ms, 50):5.2f} ms  p99 "
              f"{np.percentile(ms, 99):5.2f} ms  {len(jpeg) / 1024:6.1f} KiB ({img.nbytes / len(jpeg):4.0f}x smaller)")


class Backend:
    """The node's backend role, minus ROS: a locked PanelMachine."""

    def __init__(self) -> None:
        self.machine = PanelMachine(LabelNodeConfig(undo_window_s=0.0, contexts=["pick_red/0"],
                                                      instructions=["pick_red=pick up the red cube"]))
        self.lock = threading.Lock()
        self.server = None

    def state(self):
        with self.lock:
            return self.machine.snapshot(time.time())

    def command(self, data):
        try:
            cmd = parse_command(data)
        except PanelError as err:
            return self.malformed(str(err))
        with self.lock:
            try:
                self.machine.command(cmd, time.time())
                status, body = 200, {"ok": True}
            except PanelError as err:
                status, body = err.status, {"ok": False, "error": str(err)}
        self.server.notify()
        body["state"] = self.state()
        return status, body

    def malformed(self, reason):
        return 400, {"ok": False, "error": reason}

    def camera_jpeg(self, name):
        return None

    def reference_jpeg(self, group_id):
        return None

    def frame_seqs(self):
        return {}


async def bench_commands(port: int, n: int) -> None:
    import aiohttp
    base = f"http://127.0.0.1:{port}"
    http_ms, ws_ms, push_ms = [], [], []
    async with aiohttp.ClientSession() as session, session.ws_connect(f"{base}/ws") as ws, \
            session.ws_connect(f"{base}/ws") as watcher:
        for _ in range(2):
            await watcher.receive_json()  # the initial state and frames
        await ws.receive_json()
        await ws.receive_json()

        async def pushed(revision: int) -> float:
            while True:
                msg = await watcher.receive_json()
                if msg["type"] == "state" and msg["state"]["revision"] >= revision:
                    return time.perf_counter()

        for i in range(n):
            for command in ("start", "abort"):
                t = time.perf_counter()
                async with session.post(f"{base}/api/command", json={"command": command, "operator": "b"}) as r:
                    body = await r.json()
                    assert body["ok"], body
                t_reply = time.perf_counter()
                http_ms.append((t_reply - t) * 1e3)
                push_ms.append((await pushed(body["state"]["revision"]) - t_reply) * 1e3)
            for command in ("start", "abort"):
                t = time.perf_counter()
                await ws.send_json({"type": "command", "id": i, "command": command})
                while (msg := await ws.receive_json())["type"] != "result":
                    pass
                assert msg["ok"], msg
                ws_ms.append((time.perf_counter() - t) * 1e3)
    for name, ms in (("HTTP POST /api/command round trip", http_ms), ("WebSocket command -> result", ws_ms),
                     ("reply -> state pushed to a 2nd page", push_ms)):
        ms = np.array(ms)
        print(f"  {name:<38} p50 {np.percentile(ms, 50):6.2f} ms  p99 {np.percentile(ms, 99):6.2f} ms  (n={len(ms)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200, help="start/abort pairs per transport")
    parser.add_argument("--jpeg-reps", type=int, default=100)
    args = parser.parse_args()
    bench_jpeg(args.jpeg_reps)
    from ros_nodes.label.server import STATIC_DIR, PanelServer
    backend = Backend()
    backend.server = server = PanelServer(backend, "127.0.0.1", 0, "", STATIC_DIR)
    port = server.start()
    print(f"panel server commands (loopback, no ROS), {args.n} start/abort pairs each")
    try:
        asyncio.run(bench_commands(port, args.n))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
