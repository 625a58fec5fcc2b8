"""A webhook receiver on 127.0.0.1 that checks every request with tenantry.webhooks.signing
(the helper the SDK reuses) and records what it got; it can be told to fail for a while."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from tenantry.webhooks.signing import WebhookVerificationError, verify
from tests.http_stub import BackgroundServer, QuietHandler


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    def __init__(self) -> None:
        self.secret = ""
        self.received: list[Received] = []  # every request, accepted or not
        self.down_until = 0.0  # answer 503 until then (time.monotonic)
        self.refuse_next = 0  # answer 503 to that many more requests
        self.status = 200
        self.lock = threading.Lock()
        receiver = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    verify(secret=receiver.secret, headers=dict(self.headers.items()), body=body)
                    ok = True
                except WebhookVerificationError:
                    ok = False
                with receiver.lock:
                    receiver.received.append(Received(dict(self.headers.items()), body, ok))
                    refuse = receiver.refuse_next > 0
                    receiver.refuse_next -= 1 if refuse else 0
                if refuse or time.monotonic() < receiver.down_until:
                    self._answer(503, {"error": "down for maintenance"})
                elif not ok:
                    self._answer(400, {"error": "bad signature"})
                else:
                    self._answer(receiver.status, {"ok": True, "padding": "x" * 10000})

        self.server = BackgroundServer(Handler)
        self.url = self.server.url + "/hooks"

    def accepted(self) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.verified]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
