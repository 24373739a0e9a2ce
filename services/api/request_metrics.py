"""Requests and latency per route, as a pure ASGI middleware.

It used to be an ``@app.middleware("http")`` function. Starlette runs those through ``BaseHTTPMiddleware``,
which gives every request its own task group and a memory stream for the response body. That was the largest
cost of a one-text ``POST /v1/score`` after the model itself. This version only wraps ``send`` to see the
status, and reads the matched route from the scope once the app has answered.
"""

from __future__ import annotations

import time

from prometheus_client import Counter, Histogram

from badbuzz.services.api.body_limit import ASGIApp, Message, Receive, Scope, Send


class RequestMetrics:
    def __init__(self, app: ASGIApp, requests: Counter, latency: Histogram) -> None:
        self.app = app
        self.requests = requests
        self.latency = latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers if the app raises before it starts a response

        async def see_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, see_status)
        finally:
            name = getattr(scope.get("route"), "path", "unmatched")
            self.requests.labels(route=name, status=str(status)).inc()
            self.latency.labels(route=name).observe(time.perf_counter() - started)
