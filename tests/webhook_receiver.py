"""A real local HTTP endpoint that records webhook POSTs (optionally failing the first ones)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.posts: list[tuple[Any, bytes]] = []  # (headers, case-insensitive like HTTP; body)
        self.fail_next = 0
        self.answers: list[int] = []  # statuses to answer the next POSTs with, in order (then 200)
        self.redirect_to = ""  # a 3xx answer's Location
        self.fail_until = 0.0  # time.monotonic() before which every POST is answered 500 (an endpoint outage)
        self.refused = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if time.monotonic() < outer.fail_until:
                    outer.refused += 1
                    self.send_response(500)
                elif outer.fail_next:
                    outer.fail_next -= 1
                    self.send_response(503)
                elif outer.answers:
                    outer.refused += 1
                    self.send_response(outer.answers.pop(0))
                    if outer.redirect_to:
                        self.send_header("Location", outer.redirect_to)
                else:
                    outer.posts.append((self.headers, body))
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer((host, port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hook"

    def states(self) -> list[tuple[str, str]]:
        docs = [json.loads(body)["badbuzz"] for _, body in self.posts]
        return [(d["topic"], d["state"]) for d in docs]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()  # free the port: the next test's receiver may listen on the same one
