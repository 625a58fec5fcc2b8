"""The dashboard's usage banner: thresholds reached this period by the team's instances."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils import timezone


def usage_banner(request: HttpRequest) -> dict[str, Any]:
    access = getattr(request, "access", None)
    if access is None or getattr(access, "team", None) is None or getattr(access, "api_key", None) is not None:
        return {}
    from tenantry.metering.selectors import banner_alerts

    return {"usage_alerts": banner_alerts(team=access.team, now=timezone.now())}
