"""An instance's app logs in the dashboard: the latest lines, a service filter, and "follow"
(a little script long-polls `logs/follow/` and appends what arrives). The same reads as the API
(tenantry.instances.app_logs): the team's own instances only, secrets replaced by ***."""

from __future__ import annotations

from datetime import UTC, datetime

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from tenantry.accounts.access import Access
from tenantry.core.errors import ApplicationError, NotFound
from tenantry.dashboard.context import with_team
from tenantry.instances import app_logs, selectors
from tenantry.runtime.backends.base import LogLine

# A browser follows with short waits: a closed tab frees its server thread soon.
FOLLOW_WAIT_SECONDS = 10


def _line(line: LogLine) -> dict:
    at = datetime.fromtimestamp(line.at_ns / 1_000_000_000, tz=UTC)
    return {"service": line.service, "at": at.isoformat(timespec="milliseconds"), "text": line.text}


@with_team("instance.view")
def logs(request: HttpRequest, access: Access, ref: str) -> HttpResponse:
    instance = selectors.instance_get(team=access.team, ref=ref)
    service = request.GET.get("service") or None
    context: dict = {"access": access, "instance": instance, "service": service or "", "lines": [],
                     "services": [], "cursor": "", "error": ""}
    try:
        result = app_logs.instance_app_logs(team=access.team, instance=instance, service=service)
    except NotFound:
        raise
    except ApplicationError as exc:
        context["error"] = exc.message
    else:
        context.update(lines=[_line(line) for line in result.lines], services=result.services, cursor=result.cursor)
    return render(request, "dashboard/instance_logs.html", context)


@with_team("instance.view")
def follow(request: HttpRequest, access: Access, ref: str) -> HttpResponse:
    """JSON for the page's script: lines written after `after`, waiting a few seconds for some."""
    instance = selectors.instance_get(team=access.team, ref=ref)
    try:
        result = app_logs.instance_app_logs(team=access.team, instance=instance,
                                            service=request.GET.get("service") or None,
                                            after=request.GET.get("after") or None, wait=FOLLOW_WAIT_SECONDS)
    except NotFound:
        raise
    except ApplicationError as exc:
        return JsonResponse(exc.as_dict(), status=exc.status)
    return JsonResponse({"cursor": result.cursor, "lines": [_line(line) for line in result.lines]})
