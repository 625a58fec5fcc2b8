"""Start-up checks of what keeps the control plane's cookies on the control plane's origin.

The edge strips them from what it relays, but a running instance is reached straight through
the proxy: there, only the browser's cookie scoping keeps them away from the tenant's app. A
cookie Domain that covers `<slug>.<base domain>` would hand every visitor's dashboard session
to every instance they visit.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, register

_COOKIE_DOMAIN_SETTINGS = ("SESSION_COOKIE_DOMAIN", "CSRF_COOKIE_DOMAIN", "LANGUAGE_COOKIE_DOMAIN")


@register(Tags.security)
def control_plane_cookies_stay_off_instances(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    instance_host = f"any-instance.{settings.TENANTRY['BASE_DOMAIN']}"
    errors = []
    for name in _COOKIE_DOMAIN_SETTINGS:
        domain = (getattr(settings, name, None) or "").strip().lstrip(".").lower()
        if domain and (instance_host == domain or instance_host.endswith("." + domain)):
            errors.append(Error(
                f"{name} = {getattr(settings, name)!r} makes browsers send this control-plane cookie to every "
                f"instance's address ({instance_host}), that is to tenants' apps.",
                hint="Leave it unset: the control plane's cookies are then sent to the dashboard's host only.",
                id="tenantry.E001"))
    return errors
