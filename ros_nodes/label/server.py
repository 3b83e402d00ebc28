"""The panel's HTTP + WebSocket server (aiohttp), on its own thread and event loop.

It knows nothing about ROS or labels: a :class:`PanelBackend` (the node) answers for the state,
commands and pictures, and calls :meth:`PanelServer.notify` whenever its state changed; the
server then pushes the new state to every connected page, so two pages always agree.
The API is described in docs/panel.md.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

import robot_rl.panel
from robot_rl.panel.auth import check_token, request_token

log = logging.getLogger(__name__)

STATIC_DIR = Path(robot_rl.panel.__file__).resolve().parent / "static"  # the page: package data


class PanelBackend(Protocol):
    """What the server asks the node for; every method is called from the server's thread."""

    def state(self) -> dict[str, Any]: ...

    def command(self, data: Any) -> tuple[int, dict[str, Any]]: ...

    def malformed(self, reason: str) -> tuple[int, dict[str, Any]]: ...

    def camera_jpeg(self, name: str) -> bytes | None: ...

    def reference_jpeg(self, group_id: str) -> bytes | None: ...

    def frame_seqs(self) -> dict[str, int]: ...


_NO_STORE = {"Cache-Control": "no-store"}


class PanelServer:
    """Serves the page and the API; :meth:`start` binds (raising OSError if it cannot), :meth:`stop` closes."""

    def __init__(self, backend: PanelBackend, host: str, port: int, token: str, static_dir: Path,
                 frame_rate_hz: float = 5.0) -> None:
        self.backend = backend
        self.host, self.port, self.token = host, port, token
        self.static_dir = static_dir
        self.frame_period = 1.0 / frame_rate_hz
        self._clients: set[web.WebSocketResponse] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._dirty: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._pusher: asyncio.Task | None = None
        self._stopping = False

    # ---- lifecycle (called from the node's thread) -----------------------------------------

    def start(self, timeout: float = 10.0) -> int:
        """Bind and serve on a new thread; returns the bound port."""
        ready: dict[str, Any] = {}
        done = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                ready["port"] = loop.run_until_complete(self._open())
            except BaseException as err:  # noqa: BLE001 - handed to the starting thread
                ready["error"] = err
                done.set()
                loop.close()
                return
            done.set()
            loop.run_forever()
            try:
                loop.run_until_complete(self._close())
            finally:
                self._cancel_rest(loop)
                loop.close()

        self._thread = threading.Thread(target=run, name="panel-http", daemon=True)
        self._thread.start()
        if not done.wait(timeout):
            raise OSError(f"panel server did not start within {timeout} s")
        if "error" in ready:
            raise ready["error"]
        self.port = ready["port"]
        return self.port

    def notify(self) -> None:
        """The state changed: push it to every page (thread-safe, coalesced)."""
        loop, dirty = self._loop, self._dirty
        if loop is not None and dirty is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(dirty.set)
            except RuntimeError:  # the loop closed meanwhile (shutdown)
                pass

    @property
    def clients(self) -> int:
        return len(self._clients)

    def stop(self) -> None:
        loop = self._loop
        if loop is not None and self._thread is not None and self._thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join(timeout=10)

    async def _open(self) -> int:
        self._dirty = asyncio.Event()
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/", self._index)
        app.router.add_get("/api/state", self._state)
        app.router.add_post("/api/command", self._command)
        app.router.add_get("/camera/{name}.jpg", self._camera)
        app.router.add_get("/reference/{group_id}.jpg", self._reference)
        app.router.add_get("/ws", self._ws)
        app.router.add_get("/favicon.ico", self._no_content)
        app.router.add_static("/static", self.static_dir, append_version=False)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self._pusher = asyncio.get_running_loop().create_task(self._push_loop())
        return site._server.sockets[0].getsockname()[1]  # the real port when 0 was asked for

    async def _close(self) -> None:
        # The pusher is told to stop and awaited, not just cancelled: a task still pending when the loop
        # closes is reported as "Task was destroyed but it is pending!", and Python 3.11's wait_for can
        # swallow a cancel that lands as its wait ends (the pusher would then loop on).
        self._stopping = True
        if self._pusher is not None:
            self._dirty.set()
            await asyncio.wait({self._pusher}, timeout=2.0)
        for ws in list(self._clients):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @staticmethod
    def _cancel_rest(loop: asyncio.AbstractEventLoop) -> None:
        """Cancel and await whatever still runs (a page's WebSocket handler mid-send), then close generators."""
        for _ in range(3):  # a cancel can be swallowed (see _close): ask again, never wait forever
            rest = [t for t in asyncio.all_tasks(loop) if not t.done()]
            if not rest:
                break
            for task in rest:
                task.cancel()
            loop.run_until_complete(asyncio.wait(rest, timeout=1.0))
        loop.run_until_complete(loop.shutdown_asyncgens())

    # ---- checks -----------------------------------------------------------------------------

    @web.middleware
    async def _auth(self, request: web.Request, handler):
        # /static holds only the page's script and style sheet (nothing private, no actions); the
        # page loads them by plain <script>/<link> tags, which cannot carry the token.
        public = request.path.startswith("/static/") or request.path == "/favicon.ico"
        if not public and not check_token(self.token, request_token(request.query, request.headers)):
            if request.path == "/ws":
                raise web.HTTPUnauthorized(text="missing or wrong token")
            return web.json_response({"ok": False, "error": "missing or wrong token: open the panel as "
                                      "http://HOST:PORT/?token=TOKEN (the label node logs it)"}, status=401)
        origin = request.headers.get("Origin")
        if origin and origin != "null" and urlsplit(origin).netloc != request.host:
            # Another web site in the operator's browser must not drive the robot (CSRF).
            return web.json_response({"ok": False, "error": f"cross-origin request from {origin} refused"},
                                     status=403)
        return await handler(request)

    # ---- HTTP -------------------------------------------------------------------------------

    async def _no_content(self, _request: web.Request) -> web.Response:
        return web.Response(status=204)

    async def _index(self, _request: web.Request) -> web.StreamResponse:
        return web.FileResponse(self.static_dir / "index.html", headers=_NO_STORE)

    async def _state(self, _request: web.Request) -> web.Response:
        return web.json_response(self.backend.state(), headers=_NO_STORE)

    async def _command(self, request: web.Request) -> web.Response:
        if request.content_type != "application/json":
            # A cross-site form or text/plain POST would skip the browser's CORS preflight.
            status, body = self.backend.malformed(
                f"Content-Type must be application/json, got {request.content_type or 'none'!r}")
            return web.json_response(body, status=status)
        try:
            data = json.loads(await request.text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            status, body = self.backend.malformed(f"body is not JSON: {err}")
        else:
            status, body = self.backend.command(data)
        return web.json_response(body, status=status)

    async def _camera(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        jpeg = self.backend.camera_jpeg(name)
        if jpeg is None:
            return web.json_response({"ok": False, "error": f"no frame from camera '{name}' (yet)"}, status=404)
        return web.Response(body=jpeg, content_type="image/jpeg", headers=_NO_STORE)

    async def _reference(self, request: web.Request) -> web.Response:
        group = request.match_info["group_id"]
        jpeg = self.backend.reference_jpeg(group)
        if jpeg is None:
            return web.json_response({"ok": False, "error": f"no reference picture for group '{group}'"}, status=404)
        return web.Response(body=jpeg, content_type="image/jpeg")

    # ---- WebSocket --------------------------------------------------------------------------

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=10.0)
        await ws.prepare(request)
        self._clients.add(ws)
        try:
            await ws.send_json({"type": "state", "state": self.backend.state()})
            await ws.send_json({"type": "frames", "seq": self.backend.frame_seqs()})
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await ws.send_json(self._ws_command(msg.data))
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            self._clients.discard(ws)
        return ws

    def _ws_command(self, text: str) -> dict[str, Any]:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            data = None
            status, body = self.backend.malformed(f"message is not JSON: {err}")
        msg_id = data.pop("id", None) if isinstance(data, dict) else None
        if data is None:
            pass
        elif not isinstance(data, dict) or data.pop("type", None) != "command":
            status, body = self.backend.malformed(
                'messages must look like {"type": "command", "id": 1, "command": "start", "operator": "ana"}')
        else:
            status, body = self.backend.command(data)
        return {"type": "result", "id": msg_id, "ok": status == 200, "error": body.get("error", "")}

    async def _push_loop(self) -> None:
        """Push the state when it changed, and frame numbers at the camera rate."""
        last_seqs: dict[str, int] = {}
        while not self._stopping:
            try:
                await asyncio.wait_for(self._dirty.wait(), timeout=self.frame_period)
            except asyncio.TimeoutError:
                pass
            if self._stopping:
                break
            try:
                if self._dirty.is_set():
                    self._dirty.clear()
                    await self._broadcast({"type": "state", "state": self.backend.state()})
                seqs = self.backend.frame_seqs()
                if seqs != last_seqs:
                    last_seqs = seqs
                    await self._broadcast({"type": "frames", "seq": seqs})
            except Exception:  # noqa: BLE001 - the pusher must outlive one bad push
                log.exception("panel push failed")

    async def _broadcast(self, message: dict[str, Any]) -> None:
        text = json.dumps(message)
        for ws in list(self._clients):
            try:
                await ws.send_str(text)
            except (ConnectionError, RuntimeError):
                self._clients.discard(ws)
