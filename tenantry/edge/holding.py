"""Holding a machine caller's request while a hibernated instance wakes, then handing it over.

Webhooks (n8n's above all) are sent once by services that do not retry on a 503: the edge waits
for the app to be up (bounded by TENANTRY_EDGE_HOLD_SECONDS), then forwards the request to the
app itself and relays its answer. Later requests go straight to the app through the proxy.
"""

from __future__ import annotations

import time

import requests
from django.http import HttpRequest, HttpResponse

from tenantry.catalog.registry import get_app
from tenantry.instances.deployment import build_deployment
from tenantry.instances.models import Instance, Status

# Hop-by-hop headers (RFC 9110 7.6.1) and those the relay recomputes.
_NOT_FORWARDED = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                  "transfer-encoding", "upgrade", "content-length", "content-encoding"}


def wait_until_running(instance: Instance, *, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        instance.refresh_from_db(fields=["status"])
        if instance.status == Status.RUNNING:
            return True
        if instance.status not in (Status.HIBERNATED, Status.WAKING, Status.STARTING) or time.monotonic() > deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)


def forward_to_app(request: HttpRequest, instance: Instance, rest: str) -> HttpResponse:
    upstream = build_deployment(instance, get_app(instance.app)).upstream_url
    url = f"{upstream}/{rest}"
    if request.META.get("QUERY_STRING"):
        url = f"{url}?{request.META['QUERY_STRING']}"
    headers = {name: value for name, value in request.headers.items() if name.lower() not in _NOT_FORWARDED}
    try:
        answer = requests.request(request.method or "GET", url, headers=headers, data=request.body, timeout=60,
                                  allow_redirects=False, stream=False)
    except requests.RequestException:
        return HttpResponse("The app did not answer.", status=502, content_type="text/plain")
    response = HttpResponse(answer.content, status=answer.status_code)
    for name, value in answer.headers.items():
        if name.lower() not in _NOT_FORWARDED:
            response[name] = value
    response["X-Tenantry-State"] = "woken"
    return response
