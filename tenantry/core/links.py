"""Links to the dashboard, for emails and payment providers' return addresses: always built from
the configured TENANTRY_DASHBOARD_URL, never from a request's Host header (which a visitor
chooses: a password-reset mail must not point at their server)."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme


def dashboard_url(path: str = "/") -> str:
    return settings.TENANTRY["DASHBOARD_URL"].rstrip("/") + "/" + path.lstrip("/")


def on_dashboard(url: str) -> str:
    """The same path, query and fragment on the dashboard's address, whatever host `url` names."""
    parts = urlsplit(url)
    tail = parts.path or "/"
    if parts.query:
        tail += f"?{parts.query}"
    if parts.fragment:
        tail += f"#{parts.fragment}"
    return dashboard_url(tail)


def safe_next(request: HttpRequest, candidate: str | None, default: str) -> str:
    """A `next` the dashboard may redirect to: a path on this host (never another site, a
    tenant's address or a scheme-relative `//host`), else `default`."""
    if candidate and url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()},
                                                     require_https=request.is_secure()):
        return candidate
    return default
