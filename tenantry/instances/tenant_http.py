"""HTTP from the control plane to tenant apps: the one place such sessions are made.

A tenant app is untrusted code answering from inside the operator's network. If the control
plane followed its redirects, an app answering `302 Location: http://169.254.169.254/…` or
`http://127.0.0.1:<admin port>/…` would have the control plane fetch those for it, from the
control plane's own network position. So a tenant session never follows a redirect (whatever
a caller asks), ignores proxy settings from the environment, and reads at most
`MAX_BODY_BYTES` of an answer. What an app says is quoted in logs and errors only redacted
(the instance's secrets) and then cut short: redacting first, so a cut never leaves half of a
secret behind.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

import requests

# Hook answers and n8n's lists stay far below this; a bigger answer is an app misbehaving.
MAX_BODY_BYTES = 16 * 1024 * 1024
QUOTE_CHARS = 500


class TenantResponseTooLarge(requests.RequestException):
    """The app answered more than MAX_BODY_BYTES."""


class TenantSession(requests.Session):
    """A requests session for calls to tenant apps: no redirects, no environment proxies,
    bounded bodies. A 3xx answer is returned as it is, for the caller to treat as an error."""

    def __init__(self) -> None:
        super().__init__()
        self.trust_env = False  # never route tenant calls through a proxy named in the environment

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs["allow_redirects"] = False
        return super().request(method, url, *args, **kwargs)

    def get_redirect_target(self, response: requests.Response) -> None:
        # No redirect target at all: requests would otherwise prepare the next request of a 3xx
        # (`response.next`) and read the whole body, unbounded, to free the connection first.
        return None

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        kwargs["allow_redirects"] = False
        wants_stream = kwargs.pop("stream", False)
        response = super().send(request, stream=True, **kwargs)
        # Send the app's `Secure` cookies back over plain HTTP: behind TLS the app marks its
        # session cookie secure for its public https address, while the control plane talks to
        # it on the instance's private network, behind the proxy's TLS. They are the app's own.
        for cookie in self.cookies:
            cookie.secure = False
        if not wants_stream:
            _read_capped(response)
        return response


def tenant_session() -> TenantSession:
    return TenantSession()


def _read_capped(response: requests.Response) -> None:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        response.close()
        raise TenantResponseTooLarge(f"the app's answer is {declared} bytes (at most {MAX_BODY_BYTES} are read)")
    body = bytearray()
    for chunk in response.iter_content(64 * 1024):  # decoded: a small gzip cannot expand past the cap
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            response.close()
            raise TenantResponseTooLarge(f"the app's answer is over {MAX_BODY_BYTES} bytes")
    response._content = bytes(body)
    response._content_consumed = True  # type: ignore[attr-defined]


def redactor(values: Iterable[str]) -> Callable[[str], str]:
    """A function replacing each value, also as it appears JSON-escaped or URL-encoded, by ***."""
    forms: set[str] = set()
    for value in values:
        if not value:
            continue
        forms |= {value, json.dumps(value)[1:-1], quote(value, safe=""), quote(value)}
    ordered = sorted(forms, key=len, reverse=True)  # a longer value first, never a piece of it

    def redact(text: str) -> str:
        for form in ordered:
            text = text.replace(form, "***")
        return text

    return redact


def quoted(text: str, *, redact: Callable[[str], str], limit: int = QUOTE_CHARS) -> str:
    """An app's words fit for a log line: redacted, then cut to `limit` characters."""
    text = redact(text.strip())
    if len(text) > limit:
        return f"{text[:limit]}… ({len(text) - limit} more characters)"
    return text


def app_message(response: requests.Response, *, redact: Callable[[str], str]) -> str:
    """The app's own words for an error (the `message` of a JSON answer, else the text),
    redacted and cut short."""
    if 300 <= response.status_code < 400:
        # Say where it pointed without going there; the target may be secret-laden too.
        return quoted(f"a redirect to {response.headers.get('Location', '(nowhere)')}, not followed",
                      redact=redact)
    try:
        document = response.json()
    except ValueError:
        return quoted(response.text, redact=redact) or "(empty answer)"
    if isinstance(document, dict):
        for key in ("message", "error", "detail"):
            if isinstance(document.get(key), str):
                return quoted(document[key], redact=redact)
    return quoted(json.dumps(document), redact=redact)
