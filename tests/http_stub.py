"""Small HTTP servers on 127.0.0.1 that tests run in a thread: stand-ins for the services we
cannot reach from here (Stripe's API, a Lago, a payment gateway's callbacks, a slow network)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that keeps the test output clean and answers JSON in one call."""

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class TextHandler(QuietHandler):
    """Answers every GET 200 with the text `answer()` gives (subclasses say what)."""

    def answer(self) -> str:
        raise NotImplementedError

    def do_GET(self) -> None:
        body = self.answer().encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class BackgroundServer(ThreadingHTTPServer):
    """Serves `handler` on a free loopback port from a daemon thread as soon as it is made."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], address: tuple[str, int] = ("127.0.0.1", 0)):
        super().__init__(address, handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@contextmanager
def background_servers(handler: type[BaseHTTPRequestHandler], count: int = 2) -> Iterator[list[str]]:
    """`count` servers of `handler`, each on its own port; their URLs, shut down at the end."""
    servers = [BackgroundServer(handler) for _ in range(count)]
    try:
        yield [server.url for server in servers]
    finally:
        for server in servers:
            server.shutdown()
