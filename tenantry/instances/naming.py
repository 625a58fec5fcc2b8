"""Names derived from an instance: its host, URL and the names of its runtime resources."""

from __future__ import annotations

import re

from django.conf import settings

SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
SLUG_MIN, SLUG_MAX = 3, 30
RESERVED_SLUGS = frozenset({
    "www", "api", "admin", "app", "apps", "dashboard", "console", "status", "static", "media",
    "mail", "smtp", "imap", "pop", "ftp", "ns", "ns1", "ns2", "dns", "cdn", "assets", "auth", "login",
    "logout", "signup", "register", "account", "accounts", "billing", "pay", "payment", "payments",
    "support", "help", "docs", "blog", "traefik", "proxy", "edge", "metrics", "grafana", "prometheus",
    "tenantry", "root", "system", "localhost", "test", "webhook", "webhooks", "mx", "vpn", "git",
})


def slug_problem(slug: str) -> str | None:
    """Why a slug cannot be used as a host label, or None when it can."""
    if not SLUG_MIN <= len(slug) <= SLUG_MAX:
        return f"must be {SLUG_MIN} to {SLUG_MAX} characters long"
    if not SLUG_PATTERN.match(slug):
        return ("may hold only lowercase letters, digits and single hyphens, starting with a letter "
                "and not ending with a hyphen")
    if slug in RESERVED_SLUGS:
        return "is reserved"
    return None


def instance_host(slug: str) -> str:
    return f"{slug}.{settings.TENANTRY['BASE_DOMAIN']}"


def instance_hosts(slug: str) -> tuple[str, ...]:
    """The instance's own host names (its customers' verified domains come on top of these:
    tenantry.routing.selectors.route_hosts)."""
    return (instance_host(slug),)


def instance_slug_of(host: str) -> str | None:
    """`<slug>.<base domain>` (lowercase, no port) → slug; None for any other host."""
    suffix = "." + settings.TENANTRY["BASE_DOMAIN"]
    slug = host[: -len(suffix)] if host.endswith(suffix) else ""
    return slug if SLUG_PATTERN.match(slug) else None


def instance_url(slug: str) -> str:
    conf = settings.TENANTRY
    port = str(conf["PUBLIC_PORT"] or "")
    scheme = conf["PUBLIC_SCHEME"]
    default_port = {"http": "80", "https": "443"}[scheme]
    suffix = f":{port}" if port and port != default_port else ""
    return f"{scheme}://{instance_host(slug)}{suffix}"


def resource_prefix(slug: str) -> str:
    return f"{settings.TENANTRY['RESOURCE_PREFIX']}-{slug}"
