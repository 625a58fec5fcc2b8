"""Who the edge answers, and what crosses it.

The edge relays to tenant apps and serves pages on the tenants' own hosts, so it must never
act for the control plane's origin: it answers only requests the proxy forwarded (the proxy
adds a credential only it knows) for a host of the instance in the path, never for the
dashboard's host; the control plane's cookies are taken out of what it relays, and an app's
cookies that would reach the dashboard's host are taken out of what it answers.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from django.conf import settings

from tenantry.instances.naming import instance_hosts


def proxy_credential_ok(values: list[str]) -> bool:
    """Exactly one credential, equal to ours (compared in constant time)."""
    if len(values) != 1:
        return False
    return hmac.compare_digest(values[0].encode(), settings.TENANTRY["EDGE_SECRET"].encode())


def bare_host(host: str) -> str:
    """`Alpha.Example.com:8880` → `alpha.example.com` (IPv6 literals keep their brackets)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return (host.rsplit(":", 1)[0] if ":" in host else host).rstrip(".")


def dashboard_host() -> str:
    return bare_host(urlsplit(settings.TENANTRY["DASHBOARD_URL"]).netloc)


def host_serves_instance(host: str, slug: str, custom_hosts: tuple[str, ...] | list[str] = ()) -> bool:
    """The visitor asked for one of this instance's host names (its own, or `custom_hosts`: its
    verified custom domains), and not the dashboard's."""
    wanted = bare_host(host)
    return bool(wanted) and wanted != dashboard_host() and (wanted in instance_hosts(slug) or wanted in custom_hosts)


def control_plane_cookie_names() -> frozenset[str]:
    """The cookies the control plane sets for its own origin: none of them is the tenant's."""
    return frozenset({settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME, settings.LANGUAGE_COOKIE_NAME,
                      "messages"})  # django.contrib.messages' cookie storage


def without_control_plane_cookies(cookie_header: str) -> str:
    """A `Cookie:` header without the control plane's cookies (the others kept as sent)."""
    names = control_plane_cookie_names()
    kept = [pair.strip() for pair in cookie_header.split(";")
            if pair.strip() and pair.split("=", 1)[0].strip() not in names]
    return "; ".join(kept)


def cookie_reaches_dashboard(set_cookie: str) -> bool:
    """Would a browser send this `Set-Cookie` to the dashboard's host? Only when its Domain
    covers that host (a cookie without Domain stays on the tenant's host)."""
    host = dashboard_host()
    for attribute in set_cookie.split(";")[1:]:
        name, _, value = attribute.partition("=")
        domain = value.strip().lstrip(".").lower()
        if name.strip().lower() == "domain" and domain and (host == domain or host.endswith("." + domain)):
            return True
    return False
