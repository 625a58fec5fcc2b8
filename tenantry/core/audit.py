"""The audit trail: one function every service calls, enriched from the request being served.

`audit_log()` records actor, action and target; the team, the signed-in user (or API key), the
client's IP address and user agent come from the request context that `AuditContextMiddleware`
binds, so services stay unaware of HTTP. Writes no service audits itself (a view that saves a
model directly, a third-party form such as allauth's) are still recorded by the middleware as a
`request.<method>` row with the submitted field names: every write leaves a trace.

Changed fields are found, not written by hand: every tracked model instance remembers the values
it was loaded with (`post_init`), and `audit_log` on it records {field: [old, new]} for what
differs now (secrets masked), then takes the current values as the new baseline. A service
therefore only loads, sets, saves and calls `audit_log`. Creations keep `data` as their fields.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import models
from django.db.models.signals import post_init, post_save
from django.http import HttpRequest, HttpResponse

from tenantry.core.models import AuditEvent

# Related objects whose team a target belongs to, looked through when the target has no team_id.
_TEAM_PATHS = ("team_id", "instance", "subscription", "account", "invoice", "endpoint", "delivery", "payment")
# Submitted fields never named in a generic row (their names are harmless, but keep rows short).
_IGNORED_FIELDS = {"csrfmiddlewaretoken"}
_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass
class _RequestContext:
    request: HttpRequest
    written: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


_context: contextvars.ContextVar[_RequestContext | None] = contextvars.ContextVar("tenantry_audit", default=None)


def client_ip(request: HttpRequest) -> str | None:
    """The peer's address. Behind the proxy, Django sees the proxy's: Traefik runs on this host
    and forwards the client's address as the first X-Forwarded-For hop, trusted only from loopback."""
    remote = request.META.get("REMOTE_ADDR") or None
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if forwarded and remote in ("127.0.0.1", "::1"):
        first = forwarded.split(",")[0].strip()
        return first or remote
    return remote


def _team_id(target: models.Model, depth: int = 0) -> Any:
    if target._meta.label_lower == "accounts.team":
        return target.pk
    for attr in _TEAM_PATHS:
        if attr == "team_id":
            value = getattr(target, "team_id", None)
            if value is not None:
                return value
            continue
        if depth < 2 and any(f.name == attr for f in target._meta.concrete_fields):
            related = getattr(target, attr, None)
            if isinstance(related, models.Model):
                found = _team_id(related, depth + 1)
                if found is not None:
                    return found
    return None


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


# Field names whose values never enter the trail: the row says they changed, not to what.
_SECRET = re.compile(r"hash|secret|password|token|ciphertext|private_key|credential", re.I)
MASK = "***"
_IGNORED_CHANGES = {"created_at", "updated_at"}
# High-volume or internal models whose instances are not tracked (loading them stays cheap).
_UNTRACKED = {"core.auditevent", "core.keyvalue", "core.idempotencyrecord", "core.ratelimitwindow",
              "metering.usageevent", "metering.usagerollup", "events.event", "webhooks.webhookdelivery",
              "webhooks.webhookattempt", "instances.step", "automations.executionrecord"}
_BASELINE = "_audit_baseline"
_CREATED = "_audit_created"
_MISSING = object()


def _value(name: str, value: Any) -> Any:
    return MASK if _SECRET.search(name) else _jsonable(value)


def snapshot(obj: models.Model, fields: Iterable[str] | None = None) -> dict[str, Any]:
    """The audited values of a model's fields (secrets masked), to diff after a change."""
    names = list(fields) if fields is not None else [f.attname for f in obj._meta.concrete_fields]
    return {name: _value(name, getattr(obj, name)) for name in names}


def diff(before: dict[str, Any], obj: models.Model) -> dict[str, list[Any]]:
    after = snapshot(obj, before.keys())
    return {name: [before[name], after[name]] for name in before
            if name not in _IGNORED_CHANGES and before[name] != after[name]}


_ATTNAMES: dict[type[models.Model], tuple[str, ...]] = {}


def _loaded_values(obj: models.Model) -> dict[str, Any]:
    """The concrete fields present on the instance (deferred ones are not fetched); containers
    copied, so that changing a JSON field in place still shows."""
    names = _ATTNAMES.get(type(obj))
    if names is None:
        names = _ATTNAMES[type(obj)] = tuple(f.attname for f in obj._meta.concrete_fields
                                             if f.attname not in _IGNORED_CHANGES)
    state = obj.__dict__
    return {name: _copy(value) if isinstance(value, dict | list) else value
            for name in names if (value := state.get(name, _MISSING)) is not _MISSING}


def _copy(value: Any) -> Any:
    """A deep copy of JSON-like data (much cheaper than copy.deepcopy, paid on every load)."""
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


def _remember(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    instance.__dict__[_BASELINE] = _loaded_values(instance)


def _remember_created(sender: type[models.Model], instance: models.Model, created: bool, **kwargs: Any) -> None:
    if created:  # a creation's fields are what its service says it set (`data`)
        _remember(sender, instance)
        instance.__dict__[_CREATED] = True


def changed_fields(obj: models.Model) -> dict[str, list[Any]]:
    """{field: [old, new]} between the values the instance was loaded with (or last audited
    with) and its current ones; secrets masked. Empty for untracked models."""
    baseline = obj.__dict__.get(_BASELINE)
    if baseline is None:
        return {}
    changes = {}
    for name, old in baseline.items():
        new = obj.__dict__.get(name, _MISSING)
        if new is not _MISSING and new != old:
            changes[name] = [_value(name, old), _value(name, new)]
    return changes


def track_models() -> None:
    """Connect change tracking to every Tenantry model but the high-volume ones (app ready)."""
    from django.apps import apps

    for model in apps.get_models():
        label = model._meta.label_lower
        if model.__module__.startswith("tenantry.") and label not in _UNTRACKED:
            post_init.connect(_remember, sender=model, weak=False, dispatch_uid=f"audit-init-{label}")
            post_save.connect(_remember_created, sender=model, weak=False, dispatch_uid=f"audit-save-{label}")


def audit_log(*, actor: str, action: str, target: models.Model, data: dict[str, Any] | None = None,
              changes: dict[str, Any] | None = None, team: models.Model | None = None) -> AuditEvent:
    """Record an action in the audit trail (inside the caller's transaction).

    `changes` names the changed fields ({"field": [before, after]}); without it they are found
    on the target (`changed_fields`), and for a creation (or a target left unchanged) the row
    keeps `data` as the fields the action set."""
    ctx = _context.get()
    request = ctx.request if ctx is not None else None
    team_id = team.pk if team is not None else _team_id(target)
    user_id, ip, agent = None, None, ""
    if request is not None:
        access = getattr(request, "access", None)
        if team_id is None and access is not None:
            team_id = access.team.pk
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            user_id = user.pk
        ip = client_ip(request)
        agent = request.META.get("HTTP_USER_AGENT", "")[:300]
        ctx.written += 1  # type: ignore[union-attr]
    created = target.__dict__.pop(_CREATED, False)
    if changes is None:
        changes = (None if created else changed_fields(target)) or {k: _value(k, v) for k, v in (data or {}).items()}
    if _BASELINE in target.__dict__:
        _remember(type(target), target)  # the next row on this instance diffs from here
    return AuditEvent.objects.create(
        actor=actor or "system",
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        data=_jsonable(data or {}),
        team_id=team_id,
        actor_user_id=user_id,
        ip=ip,
        user_agent=agent,
        changes=_jsonable(changes),
    )


def _actor_of(request: HttpRequest) -> str:
    access = getattr(request, "access", None)
    if access is not None:
        return str(access.actor)
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.email}"
    return "anonymous"


def _generic_row(request: HttpRequest, response: HttpResponse) -> None:
    fields = sorted({k for k in request.POST if k not in _IGNORED_FIELDS}) if request.method == "POST" else []
    access = getattr(request, "access", None)
    user = getattr(request, "user", None)
    AuditEvent.objects.create(
        actor=_actor_of(request), action=f"request.{request.method.lower()}",  # type: ignore[union-attr]
        target_type="http.path", target_id=request.path[:64],
        data={"path": request.path[:500], "status": response.status_code},
        team_id=access.team.pk if access is not None else None,
        actor_user_id=user.pk if user is not None and user.is_authenticated else None,
        ip=client_ip(request), user_agent=request.META.get("HTTP_USER_AGENT", "")[:300],
        changes={name: None for name in fields},
    )


def _succeeded(request: HttpRequest, response: HttpResponse) -> bool:
    if request.path.startswith("/api/"):
        return 200 <= response.status_code < 300
    # Dashboard forms redirect after a successful POST and re-render (200) when invalid.
    return 300 <= response.status_code < 400


class AuditContextMiddleware:
    """Binds the request for `audit_log`, and audits writes no service recorded."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        ctx = _RequestContext(request=request)
        token = _context.set(ctx)
        try:
            response = self.get_response(request)
            if (request.method in _UNSAFE and ctx.written == 0 and _succeeded(request, response)
                    and not request.path.startswith(("/static/", "/healthz", "/readyz", "/metrics"))):
                _generic_row(request, response)
            return response
        finally:
            _context.reset(token)
