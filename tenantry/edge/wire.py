"""Requests and responses as the ASGI server hands them to the edge and takes them back.

The edge is a plain ASGI application rather than Django's ASGI handler: Django's handler reads
every request body whole before a view runs (no cap, no streaming) and runs the control plane's
middleware (sessions, CSRF, language cookies), none of which belongs on a tenant's host.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import IO, Any

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

# Bodies up to this size stay in memory while the edge holds them; larger ones go to a temp file.
_SPOOL_IN_MEMORY = 1024 * 1024
_CHUNK = 64 * 1024


class BodyTooLarge(Exception):
    pass


class ClientGone(Exception):
    pass


@dataclass
class EdgeRequest:
    method: str
    raw_path: str  # as sent (percent-encoding kept), e.g. /_edge/<id>/webhook/x
    query_string: str
    headers: list[tuple[str, str]]  # lower-case names, in order, repeats kept
    receive: Receive = field(repr=False)

    @classmethod
    def from_scope(cls, scope: Scope, receive: Receive) -> EdgeRequest:
        raw_path = scope.get("raw_path") or scope["path"].encode()
        return cls(method=scope["method"].upper(), raw_path=raw_path.decode("latin-1"),
                   query_string=scope.get("query_string", b"").decode("latin-1"),
                   headers=[(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]],
                   receive=receive)

    def header(self, name: str, default: str = "") -> str:
        values = self.header_values(name)
        return values[0] if values else default

    def header_values(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.headers if key == name]

    def declared_length(self) -> int | None:
        try:
            return int(self.header("content-length"))
        except ValueError:
            return None

    async def spool_body(self, *, limit: int) -> tuple[IO[bytes], int]:
        """Read the whole body (at most `limit` bytes) into a spooled file, rewound."""
        body: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
        size = 0
        try:
            while True:
                message = await self.receive()
                if message["type"] == "http.disconnect":
                    raise ClientGone()
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise BodyTooLarge()
                body.write(chunk)
                if not message.get("more_body", False):
                    break
        except BaseException:
            body.close()
            raise
        body.seek(0)
        return body, size


async def file_chunks(body: IO[bytes]) -> AsyncIterator[bytes]:
    try:
        while chunk := body.read(_CHUNK):
            yield chunk
    finally:
        body.close()


@dataclass
class EdgeResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None  # streamed instead of `body` when given

    async def send(self, send: Send, *, head_only: bool = False) -> None:
        headers = list(self.headers)
        if self.stream is None and not any(name.lower() == "content-length" for name, _ in headers):
            headers.append(("Content-Length", str(len(self.body))))
        await send({"type": "http.response.start", "status": self.status,
                    "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]})
        if self.stream is not None:
            try:
                async for chunk in self.stream:
                    if chunk and not head_only:
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
            finally:
                await _close(self.stream)
            await send({"type": "http.response.body", "body": b""})
        else:
            await send({"type": "http.response.body", "body": b"" if head_only else self.body})

    async def discard(self) -> None:
        """Never sent (the client left): release what the stream holds."""
        if self.stream is not None:
            await _close(self.stream)


async def _close(stream: AsyncIterator[bytes]) -> None:
    close = getattr(stream, "aclose", None)
    if close is not None:
        await close()


def plain(status: int, text: str, *headers: tuple[str, str]) -> EdgeResponse:
    return EdgeResponse(status, [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store"),
                                 *headers], text.encode())
