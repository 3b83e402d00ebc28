"""The panel's web server stops cleanly: no task is left pending when its event loop closes (asyncio
would log "Task was destroyed but it is pending!"), even while the node keeps notifying state changes
and a page is connected. The server runs for real on loopback; the backend is a stand-in for the node."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time

import pytest

pytest.importorskip("aiohttp")
from ros_nodes.label.server import STATIC_DIR, PanelServer  # noqa: E402


class Backend:
    def state(self) -> dict:
        return {"revision": 0}

    def frame_seqs(self) -> dict:
        return {}

    def command(self, data):
        return 200, {"ok": True}

    def malformed(self, reason):
        return 400, {"ok": False, "error": reason}

    def camera_jpeg(self, name):
        return None

    def reference_jpeg(self, group_id):
        return None


async def _page(port: int, connected: threading.Event, done: threading.Event) -> None:
    import aiohttp
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"http://127.0.0.1:{port}/ws") as ws:
            connected.set()
            async for _ in ws:  # until the server closes it
                if done.is_set():
                    break


def test_stop_leaves_no_pending_task(caplog):
    caplog.set_level(logging.ERROR, logger="asyncio")
    for i in range(30):
        server = PanelServer(Backend(), "127.0.0.1", 0, "", STATIC_DIR, frame_rate_hz=1000.0)
        port = server.start()
        page = None
        connected, done = threading.Event(), threading.Event()
        if i % 3 == 0:  # a page connected while the node stops
            page = threading.Thread(target=asyncio.run, args=(_page(port, connected, done),))
            page.start()
            assert connected.wait(10)
        stop = False

        def notify() -> None:  # the node's callbacks go on notifying while it shuts down
            while not stop:
                server.notify()

        spammer = threading.Thread(target=notify)
        spammer.start()
        time.sleep(0.01)
        server.stop()
        stop = True
        spammer.join()
        done.set()
        if page is not None:
            page.join(10)
        assert not server._thread.is_alive(), "the server thread did not end"
        del server
        gc.collect()  # a pending task is reported when it is collected
    destroyed = [r.getMessage() for r in caplog.records if "destroyed but it is pending" in r.getMessage()]
    assert not destroyed, destroyed[:3]
