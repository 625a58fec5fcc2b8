"""Sending one webhook request without letting a customer's URL reach inside the operator's
network.

A team chooses the URL, so it could name `127.0.0.1:5432`, a cloud metadata address or any
private host; DNS could also change between our check and the request. So the host is resolved
here, every address it resolves to must be public (unless the operator allows private ones,
`TENANTRY_WEBHOOKS_ALLOW_PRIVATE`), and the request goes to the address that was checked (TLS
still verifies the certificate for the URL's host name). Redirects are never followed and only
the start of an answer is read.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
from django.conf import settings

from tenantry.core.errors import ValidationError

MAX_RESPONSE_BYTES = 4096
USER_AGENT = "Tenantry-Webhooks/1"


class UnsafeAddress(ValidationError):
    code = "webhook_url_private"


class InvalidUrl(ValidationError):
    code = "webhook_url_invalid"


def _blocked(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (address.is_private or address.is_loopback or address.is_link_local or address.is_multicast
            or address.is_reserved or address.is_unspecified or not address.is_global)


def allow_private() -> bool:
    return bool(settings.TENANTRY_WEBHOOKS["ALLOW_PRIVATE"])


def check_url_syntax(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidUrl("The endpoint URL must be an http:// or https:// address.", details={"field": "url"})
    if parts.username or parts.password:
        raise InvalidUrl("The endpoint URL must not carry a user name or password.", details={"field": "url"})
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise InvalidUrl("The endpoint URL has an invalid port.", details={"field": "url"}) from None
    return parts.hostname, port


def resolve_safe(url: str) -> list[str]:
    """The addresses to send to: every one the host resolves to, all of them allowed."""
    host, port = check_url_syntax(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise InvalidUrl(f"The host {host!r} does not resolve.", details={"field": "url"}) from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not allow_private():
        refused = [a for a in addresses if _blocked(ipaddress.ip_address(a.split("%", 1)[0]))]
        if refused:
            raise UnsafeAddress(f"The host {host!r} resolves to a private or reserved address ({refused[0]}); "
                                "webhooks are only sent to public addresses.",
                                details={"field": "url", "addresses": refused})
    return addresses


@dataclass
class SendResult:
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    error: str = ""
    duration_ms: int = 0

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def post(url: str, *, body: bytes, headers: dict[str, str], timeout: float) -> SendResult:
    return send("POST", url, body=body, headers={**headers, "Content-Type": "application/json"}, timeout=timeout)


def send(method: str, url: str, *, body: bytes | None = None, headers: dict[str, str], timeout: float,
         user_agent: str = USER_AGENT) -> SendResult:
    """One request to a URL a customer chose (a webhook endpoint, their WordPress site), to the
    address that was checked; redirects are never followed and only the start of the answer read."""
    started = time.monotonic()
    result = SendResult()
    try:
        addresses = resolve_safe(url)
    except ValidationError as exc:
        result.error = exc.message
        return result
    parts = urlsplit(url)
    target = httpx.URL(url)
    address = addresses[0]
    pinned = target.copy_with(host=address)
    host_header = parts.netloc.rsplit("@", 1)[-1]
    request_headers = {**headers, "Host": host_header, "User-Agent": user_agent}
    extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client, \
                client.stream(method, pinned, content=body, headers=request_headers,
                              extensions=extensions) as response:
            result.status = response.status_code
            result.headers = dict(response.headers)
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size >= MAX_RESPONSE_BYTES:
                    break
            result.body = b"".join(chunks)[:MAX_RESPONSE_BYTES].decode("utf-8", "replace")
            if 300 <= response.status_code < 400:
                result.error = "redirects are not followed"
    except httpx.HTTPError as exc:
        result.error = f"{type(exc).__name__}: {exc}"[:500]
    result.duration_ms = int((time.monotonic() - started) * 1000)
    return result
