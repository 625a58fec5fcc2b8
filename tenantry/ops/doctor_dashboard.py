"""`tenantry doctor`'s check of the dashboard's own address (white label: the operator's domain):
the settings that must follow it, its DNS, and the proxy's route to it."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from django.conf import settings

FindingMaker = Callable[[str, str, str, str], object]


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def dashboard_findings(finding: FindingMaker, resolve: Callable[[str], list[str]],
                       ok: str, warning: str, failure: str) -> Iterator[object]:
    url = settings.TENANTRY["DASHBOARD_URL"]
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    name = "dashboard"
    if not host:
        yield finding(name, failure, f"TENANTRY_DASHBOARD_URL={url!r} names no host",
                      "set TENANTRY_DASHBOARD_URL=https://dashboard.example.com")
        return
    if host not in [h.lower() for h in settings.ALLOWED_HOSTS]:
        yield finding(name, failure, f"{host} is not in ALLOWED_HOSTS: the dashboard answers 400 there",
                      "keep TENANTRY_DASHBOARD_URL and TENANTRY_ALLOWED_HOSTS in the same environment file")
    base = settings.TENANTRY["BASE_DOMAIN"]
    if host == base or (host.endswith("." + base) and "." not in host[: -len(base) - 1]):
        yield finding(name, failure, f"{host} is an instance address under {base}: an instance could take it",
                      f"use another host (dashboard.example.com) or one two levels under {base}")
    if parts.scheme == "https":
        if f"https://{parts.netloc}" not in getattr(settings, "CSRF_TRUSTED_ORIGINS", []):
            yield finding(name, failure, f"https://{parts.netloc} is not a CSRF trusted origin: forms fail",
                          "keep TENANTRY_DASHBOARD_URL in the environment every process reads")
        if not settings.SESSION_COOKIE_SECURE:
            yield finding(name, failure, "the dashboard is on https but its cookies may travel in clear",
                          "unset TENANTRY_SECURE_COOKIES (it follows the dashboard URL)")
    elif host not in ("localhost", "127.0.0.1") and not _is_ip(host):
        yield finding(name, warning, f"the dashboard at {url} is plain HTTP: passwords travel in clear",
                      "set TENANTRY_DASHBOARD_URL=https://… and TENANTRY_ACME_CA/TENANTRY_ACME_EMAIL")
    if _is_ip(host) or host == "localhost" or host.endswith(".localhost"):
        yield finding(name, ok, f"the dashboard is served at {url} (local address, no DNS or proxy route)", "")
        return
    try:
        addresses = resolve(host)
    except Exception as exc:  # NXDOMAIN, timeout
        yield finding(name, failure, f"{host} does not resolve ({str(exc)[:200] or type(exc).__name__})",
                      f"create a record: {host} A <this server's public address>")
        return
    conf = getattr(settings, "TENANTRY_DASHBOARD", {})
    if conf.get("PROXY"):
        from tenantry.routing.registry import routing

        base_file = Path(getattr(routing(), "directory", settings.DATA_DIR)) / "_tenantry.yml"
        try:
            document = yaml.safe_load(base_file.read_text()) or {}
        except OSError:
            document = {}
        rule = document.get("http", {}).get("routers", {}).get("tenantry-dashboard", {}).get("rule", "")
        if f"Host(`{host}`)" not in rule:
            yield finding(name, failure, f"the proxy has no route for {host} yet ({base_file})",
                          "run `tenantry proxy_config` (systemd: restart tenantry-migrate) or restart `tenantry up`")
            return
    yield finding(name, ok, f"the dashboard is served at {url} ({host} resolves to {', '.join(addresses)})", "")
