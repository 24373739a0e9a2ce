"""Request bodies are capped before they are read, and before authentication.

FastAPI reads and parses a route's body before its dependencies run, so an API key check cannot protect the
server from a huge body: anyone could make it buffer and parse megabytes. This pure ASGI middleware sits in
front of everything: a declared ``Content-Length`` over the cap is answered 413 without reading a byte, and a
chunked body is counted as it streams in and cut off (413) the moment it passes the cap.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyLimit:
    """Caps request bodies at ``default`` bytes, or at ``per_path[path]`` for a path listed there."""

    def __init__(self, app: ASGIApp, default: int, per_path: dict[str, int] | None = None) -> None:
        self.app = app
        self.default = default
        self.per_path = per_path or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self.per_path.get(scope.get("path", ""), self.default)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > cap
            except ValueError:
                too_big = False  # h11/uvicorn refuse a malformed length themselves
            if too_big:
                await _refuse(send, cap)
                return
        seen = 0
        started = refused = False

        async def counted() -> Message:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > cap:  # answer now; the app sees the client go away and its answer is dropped
                    refused = True
                    if not started:
                        await _refuse(send, cap)
                    return {"type": "http.disconnect"}
            return message

        async def tracking(message: Message) -> None:
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracking)
        except Exception:
            if not refused:
                raise  # the app's own failure; a refused body's "client disconnected" is ours, and handled


async def _refuse(send: Send, cap: int) -> None:
    body = json.dumps({"detail": f"request body over {cap} bytes"}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
