"""White label (tenantry/branding): the brand's defaults, which the operator console overrides."""

from __future__ import annotations

import ipaddress
import os
from typing import Any
from urllib.parse import urlsplit

from tenantry.settings.base import DASHBOARD_URL
from tenantry.settings.env import env_bool, env_int

TENANTRY_BRAND: dict[str, Any] = {
    "NAME": os.environ.get("TENANTRY_BRAND_NAME", "Tenantry"),
    "PRIMARY_COLOR": os.environ.get("TENANTRY_BRAND_PRIMARY_COLOR", "#4f46e5").lower(),
    "ACCENT_COLOR": os.environ.get("TENANTRY_BRAND_ACCENT_COLOR", "#4338ca").lower(),
    "SUPPORT_EMAIL": os.environ.get("TENANTRY_BRAND_SUPPORT_EMAIL", ""),
    "LEGAL_FOOTER": os.environ.get("TENANTRY_BRAND_LEGAL_FOOTER", "").replace("\\n", "\n"),
    "LOGO_URL": os.environ.get("TENANTRY_BRAND_LOGO_URL", ""),
    "LOGO_MAX_BYTES": env_int("TENANTRY_BRAND_LOGO_MAX_BYTES", 512 * 1024),
    "CACHE_SECONDS": env_int("TENANTRY_BRAND_CACHE_SECONDS", 30),
}

for _key in ("PRIMARY_COLOR", "ACCENT_COLOR"):
    # Written into every page's CSS: refuse anything but a hex colour at start-up.
    _value = str(TENANTRY_BRAND[_key])
    if not (len(_value) in (4, 7) and _value[0] == "#" and all(c in "0123456789abcdef" for c in _value[1:])):
        raise ValueError(f"TENANTRY_BRAND_{_key} must be a hex colour such as #1a2b3c, not {_value!r}")

# --- the dashboard on the operator's own domain -------------------------------------------------
# TENANTRY_DASHBOARD_URL names it (ALLOWED_HOSTS, CSRF trusted origins and secure cookies follow,
# see base.py); the proxy routes that host to the control plane when it is a DNS name, with an
# ACME certificate when TLS is on. TENANTRY_DASHBOARD_PROXY=0 leaves that route to another proxy.
_DASHBOARD_HOST = (urlsplit(DASHBOARD_URL).hostname or "").lower()


def _is_name(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return bool(host) and host != "localhost" and not host.endswith(".localhost")
    return False


TENANTRY_DASHBOARD = {
    "HOST": _DASHBOARD_HOST,
    "PROXY": env_bool("TENANTRY_DASHBOARD_PROXY", _is_name(_DASHBOARD_HOST)),
    # Where the proxy sends the dashboard's requests: the control plane's own listener.
    "UPSTREAM": os.environ.get("TENANTRY_DASHBOARD_UPSTREAM")
    or f"http://{os.environ.get('TENANTRY_WEB_HOST', '127.0.0.1')}:{env_int('TENANTRY_WEB_PORT', 8000)}",
}

# The authenticator app names the brand (tenantry/branding/mfa.py).
MFA_ADAPTER = "tenantry.branding.mfa.BrandedMFAAdapter"
