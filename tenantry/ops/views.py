"""Health, readiness and metrics endpoints for supervisors and Prometheus (no session, no login)."""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tenantry.ops.metrics import scrape_registry
from tenantry.ops.probes import readiness

# Headers any reverse proxy adds: a loopback peer that sends them is relaying someone else.
_FORWARDING_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_FORWARDED")


@never_cache
@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """Alive: the process answers HTTP. Touches nothing else, so a database outage does not get
    every web process restarted by its supervisor."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> HttpResponse:
    """Ready: database, queue, Docker and the proxy all answer; 503 names the ones that did not."""
    results = readiness()
    failed = [r.name for r in results if not r.ok]
    body = {"status": "fail" if failed else "ok", "failed": failed,
            "checks": {r.name: {"ok": r.ok, "detail": r.detail} for r in results}}
    return JsonResponse(body, status=503 if failed else 200)


def _metrics_allowed(request: HttpRequest) -> bool:
    token = settings.TENANTRY.get("METRICS_TOKEN", "")
    if token:
        supplied = request.headers.get("Authorization", "")
        if supplied.startswith("Bearer ") and hmac.compare_digest(supplied[7:].encode(), token.encode()):
            return True
    if any(request.META.get(header) for header in _FORWARDING_HEADERS):
        return False
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition: from loopback directly, or anywhere with TENANTRY_METRICS_TOKEN."""
    if not _metrics_allowed(request):
        return JsonResponse({"code": "forbidden", "message": "Metrics are served to loopback or with the "
                             "metrics bearer token."}, status=403)
    return HttpResponse(generate_latest(scrape_registry()), content_type=CONTENT_TYPE_LATEST)
