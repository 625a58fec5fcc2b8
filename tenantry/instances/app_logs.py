"""The customer's view of their own instance's app logs: the latest lines of its containers,
one service or all, read through the runtime backend (never host paths), with every secret the
control plane holds for the instance replaced by ***, and a cursor to follow what comes next
(a long poll: wait until new lines arrive or a few seconds pass)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from tenantry.accounts.models import Team
from tenantry.catalog.registry import get_app
from tenantry.core.errors import Conflict, NotFound, ServiceUnavailable, ValidationError
from tenantry.instances.deployment import build_deployment
from tenantry.instances.models import Instance, Status
from tenantry.instances.secrets import sensitive_strings
from tenantry.instances.tenant_http import redactor
from tenantry.runtime.backends.base import MAX_LOG_LINES, BackendError, LogLine
from tenantry.runtime.registry import runtime_for

DEFAULT_TAIL = 200
MAX_WAIT_SECONDS = 25
POLL_INTERVAL_SECONDS = 0.5
# Whose containers are gone for good: nothing to read.
_NO_CONTAINERS = {Status.PENDING, Status.ARCHIVED, Status.DELETING, Status.DELETED}


@dataclass(frozen=True)
class AppLogs:
    services: tuple[str, ...]  # what the instance runs (the filter's choices)
    lines: tuple[LogLine, ...] = field(repr=False)  # oldest first, redacted
    # Pass back as `after` to get only later lines; the same value when nothing new came.
    cursor: str = ""


def parse_cursor(value: str | None) -> int | None:
    if value in (None, ""):
        return None
    if not value.isdigit() or len(value) > 20:
        raise ValidationError(_("The cursor is not one this API returned."), code="invalid_cursor",
                              details={"field": "after"})
    return int(value)


def instance_app_logs(*, team: Team, instance: Instance, service: str | None = None, tail: int = DEFAULT_TAIL,
                      after: str | None = None, wait: float = 0,
                      sleep: Callable[[float], None] = time.sleep) -> AppLogs:
    """The instance's latest app log lines (at most `tail`, up to MAX_LOG_LINES), of one service
    or of all of them merged in time order. With `after` (a cursor from an earlier answer) only
    later lines; with `wait` > 0, wait up to that many seconds for some to arrive."""
    if instance.team_id != team.pk:  # callers pass an instance their team selector found
        raise NotFound(_("No instance %(ref)s.") % {"ref": instance.slug}, code="instance_not_found")
    spec = get_app(instance.app)
    services = tuple(spec.start_order())
    if service:
        if service not in services:
            raise NotFound(_("%(app)s has no service %(service)s; it runs %(services)s.")
                           % {"app": spec.title, "service": service, "services": ", ".join(services)},
                           code="service_not_found", details={"services": list(services)})
        chosen: tuple[str, ...] = (service,)
    else:
        chosen = services
    if instance.status in _NO_CONTAINERS or not instance.subnet:
        raise Conflict(_("%(name)s has no containers to read logs from (it is %(status)s).")
                       % {"name": instance.slug, "status": instance.get_status_display().lower()},
                       code="logs_unavailable")
    if not 1 <= tail <= MAX_LOG_LINES:
        raise ValidationError(_("tail must be between 1 and %(max)d lines.") % {"max": MAX_LOG_LINES},
                              code="invalid_input", details={"field": "tail"})
    after_ns = parse_cursor(after)
    wait = max(0.0, min(float(wait), MAX_WAIT_SECONDS))

    deployment = build_deployment(instance, spec)
    runtime = runtime_for(instance.server)
    redact = redactor(sensitive_strings(instance))
    deadline = time.monotonic() + wait
    while True:
        try:
            found = [line for name in chosen
                     for line in runtime.read_logs(deployment, name, tail=tail, after_ns=after_ns)]
        except BackendError as exc:
            raise ServiceUnavailable(_("The logs cannot be read right now: %(why)s") % {"why": redact(exc.message)},
                                     code="logs_unavailable") from exc
        if found or time.monotonic() >= deadline:
            break
        sleep(POLL_INTERVAL_SECONDS)
    found.sort(key=lambda line: (line.at_ns, chosen.index(line.service)))
    found = found[-tail:]
    lines = tuple(LogLine(service=line.service, at_ns=line.at_ns, text=redact(line.text)) for line in found)
    cursor = str(found[-1].at_ns) if found else (str(after_ns) if after_ns is not None else "0")
    return AppLogs(services=services, lines=lines, cursor=cursor)
