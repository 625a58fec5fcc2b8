"""Drive the workflows inside a customer's automation app (n8n): list, activate, run, and copy
their executions into Tenantry. Callers pass an instance already scoped to the caller's team."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from tenantry.automations.backends.base import AutomationBackend, AutomationTarget, RunResult, Workflow
from tenantry.automations.limits import require_not_paused
from tenantry.automations.models import ExecutionRecord, LoginTicket
from tenantry.catalog.registry import get_app, get_catalog
from tenantry.catalog.templating import render
from tenantry.core.audit import audit_log
from tenantry.core.errors import ApplicationError, Conflict, NotFound, ServiceUnavailable, ValidationError
from tenantry.core.logging import get_logger
from tenantry.core.tokens import new_secret, secret_hash
from tenantry.instances.deployment import build_deployment
from tenantry.instances.hooks import hook_context
from tenantry.instances.models import Instance, Status
from tenantry.instances.secrets import sensitive_strings
from tenantry.runtime.backends.base import BackendError, TransientBackendError

log = get_logger(__name__)


class AppError(ApplicationError):
    """The app answered, but not as hoped; the message is the app's own."""

    code = "app_error"
    status = 502


def automation_for(instance: Instance) -> AutomationBackend:
    spec = get_app(instance.app)
    if spec.automation is None:
        raise ValidationError(f"App {instance.app!r} has no workflows Tenantry can drive.", code="not_supported")
    if instance.status != Status.RUNNING:
        hint = " Wake it first." if instance.status == Status.HIBERNATED else ""
        raise Conflict(f"Instance {instance.slug!r} is {instance.status}: its workflows are reachable only while it "
                       f"runs.{hint}", code="instance_not_running", details={"status": instance.status})
    if instance.provisioned_at is None:
        raise Conflict(f"Instance {instance.slug!r} is still being set up.", code="instance_not_running")
    context = hook_context(instance, spec)
    admin_login = admin_password = ""
    if spec.admin is not None:
        admin_login, admin_password = render(spec.admin.login, context), render(spec.admin.password, context)
    target = AutomationTarget(base_url=build_deployment(instance, spec).upstream_url,
                              api_key=render(spec.automation.api_key, context),
                              admin_login=admin_login, admin_password=admin_password,
                              secrets=tuple(sensitive_strings(instance)))
    backend_class = import_string(settings.TENANTRY["AUTOMATION_BACKENDS"][spec.automation.backend])
    return backend_class(target)


def app_call(call):
    """Run one call to the app's automation backend, its failures said as API errors (the app
    unreachable: 503; a workflow it does not have: 404). Shared by schedules and template pushes."""
    try:
        return call()
    except TransientBackendError as exc:
        raise ServiceUnavailable(exc.message, code=exc.code or "app_unreachable") from exc
    except BackendError as exc:
        if exc.code == "not_found":
            raise NotFound(exc.message, code="workflow_not_found") from exc
        raise AppError(exc.message, code=exc.code or "app_error") from exc


def workflows_list(*, instance: Instance) -> list[Workflow]:
    backend = automation_for(instance)
    return app_call(backend.workflows)


def workflow_set_active(*, instance: Instance, workflow_id: str, active: bool, actor: str) -> Workflow:
    backend = automation_for(instance)
    if active:
        from tenantry.metering.services.quotas import require_within_quota

        require_within_quota(team=instance.team, instance=instance, quotas=("executions",),
                             action="activating workflows")
        require_not_paused(instance=instance, workflow_id=workflow_id)
        _require_active_room(instance, backend, workflow_id)
    workflow = app_call(lambda: backend.set_active(workflow_id, active))
    audit_log(actor=actor, action="workflow.activate" if active else "workflow.deactivate", target=instance,
              data={"workflow": workflow_id, "name": workflow.name})
    return workflow


def _require_active_room(instance: Instance, backend: AutomationBackend, workflow_id: str) -> None:
    """The plan's active-workflow limit: one more activation must fit (`plan_limit_reached`)."""
    from tenantry.billing.entitlements import PlanLimitReached
    from tenantry.billing.selectors import team_app_limit

    limit = team_app_limit(instance.team, instance.app, "active_workflows")
    if limit is None:
        return
    active = [w.id for w in app_call(backend.workflows) if w.active]
    if workflow_id not in active and len(active) >= limit:
        raise PlanLimitReached(f"The plan allows {limit} active workflow(s) and {instance.slug} has {len(active)}: "
                               "deactivate one or change plan.",
                               details={"active_workflows": len(active), "limit": limit})


def workflow_run_now(*, instance: Instance, workflow_id: str, actor: str) -> RunResult:
    backend = automation_for(instance)
    require_not_paused(instance=instance, workflow_id=workflow_id)
    result = app_call(lambda: backend.run_now(workflow_id))
    audit_log(actor=actor, action="workflow.run", target=instance,
              data={"workflow": workflow_id, "execution": result.execution_id})
    return result


def executions_sync(*, instance: Instance, workflows: list[Workflow] | None = None) -> int:
    """Copy the app's recent executions; returns how many were new or changed. Idempotent.
    `workflows`: the list the caller has just read (for their names), to spare a second call."""
    backend = automation_for(instance)
    executions = app_call(backend.executions)
    if not executions:
        return 0
    names = {w.id: w.name for w in (workflows if workflows is not None else app_call(backend.workflows))}
    known = {r.external_id: r for r in ExecutionRecord.objects.filter(
        instance=instance, external_id__in=[e.id for e in executions])}
    changed = 0
    for execution in executions:
        record = known.get(execution.id)
        fields = {"workflow_id": execution.workflow_id, "workflow_name": names.get(execution.workflow_id, ""),
                  "status": execution.status, "mode": execution.mode, "started_at": execution.started_at,
                  "stopped_at": execution.stopped_at}
        if record is None:
            try:
                with transaction.atomic():
                    ExecutionRecord.objects.create(instance=instance, external_id=execution.id, **fields)
                changed += 1
            except IntegrityError:  # a concurrent sync copied it first
                pass
        elif any(getattr(record, k) != v for k, v in fields.items() if k != "workflow_name" or v):
            # updated_at by hand (update() skips auto_now): the executions meter reads records by
            # it, so a run copied while queued is billed once n8n gives its start.
            ExecutionRecord.objects.filter(pk=record.pk).update(**fields, updated_at=timezone.now())
            changed += 1
    return changed


def executions_sync_quietly(*, instance: Instance) -> None:
    """Best effort before showing history: a sleeping or busy app still shows what was copied."""
    if instance.status != Status.RUNNING or instance.provisioned_at is None:
        return
    try:
        executions_sync(instance=instance)
    except ApplicationError as exc:
        log.info("automations.sync_skipped", instance=instance.slug, reason=exc.code)


def month_start(now: datetime | None = None) -> datetime:
    now = now or timezone.now()
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def executions_this_month(*, instance: Instance) -> int:
    return ExecutionRecord.objects.filter(instance=instance, started_at__gte=month_start()).count()


def executions_limit(*, instance: Instance) -> int | None:
    """The team's plan limit for this app's executions per month (enforced with metering)."""
    from tenantry.billing.selectors import team_app_limit

    return team_app_limit(instance.team, instance.app, "executions_month")


LOGIN_TICKET_SECONDS = 60


def admin_login_link(*, instance: Instance, actor: str) -> str:
    """A one-time link (valid a minute) on the app's own address that signs the customer in."""
    spec = get_app(instance.app)
    if spec.admin is None or spec.automation is None:
        raise ValidationError(f"App {instance.app!r} cannot sign you in; open it and log in.", code="not_supported")
    automation_for(instance)  # running and set up, or a clear error now rather than on the app's address
    secret = new_secret()
    LoginTicket.objects.create(instance=instance, secret_hash=secret_hash(secret), actor=actor,
                               expires_at=timezone.now() + timedelta(seconds=LOGIN_TICKET_SECONDS))
    audit_log(actor=actor, action="instance.admin_login", target=instance)
    return f"{instance.url}/_tenantry/login?ticket={secret}"


def admin_login_redeem(*, instance: Instance, secret: str) -> dict[str, str]:
    """Use a login link once: the app's session cookies for the browser that followed it."""
    now = timezone.now()
    used = LoginTicket.objects.filter(instance=instance, secret_hash=secret_hash(secret or ""), used_at__isnull=True,
                                      expires_at__gt=now).update(used_at=now)
    if not used:
        raise Conflict("This sign-in link has expired or was already used.", code="ticket_invalid")
    backend = automation_for(instance)
    return app_call(backend.login_cookies)


def admin_credentials_reveal(*, instance: Instance, actor: str) -> dict[str, str]:
    """The app's own admin login, shown once: afterwards only the time it was shown."""
    spec = get_app(instance.app)
    if spec.admin is None:
        raise ValidationError(f"App {instance.app!r} has no admin login to show.", code="not_supported")
    if instance.provisioned_at is None:
        raise Conflict(f"Instance {instance.slug!r} is still being set up.", code="instance_not_running")
    with transaction.atomic():
        claimed = Instance.objects.filter(pk=instance.pk, admin_revealed_at__isnull=True).update(
            admin_revealed_at=timezone.now())
        if not claimed:
            raise Conflict("The login was already shown once; it is not shown again.", code="already_revealed")
        audit_log(actor=actor, action="instance.admin_revealed", target=instance)
    context = hook_context(instance, spec)
    return {"url": instance.url, "login": render(spec.admin.login, context),
            "password": render(spec.admin.password, context)}


def sync_all_executions() -> int:
    """Every running instance of an automation app; one app's trouble does not stop the others."""
    automation_apps = [name for name, spec in get_catalog().items() if spec.automation is not None]
    changed = 0
    for instance in Instance.objects.filter(app__in=automation_apps, status=Status.RUNNING,
                                            provisioned_at__isnull=False):
        try:
            changed += executions_sync(instance=instance)
        except ApplicationError as exc:
            log.info("automations.sync_failed", instance=instance.slug, reason=exc.code)
    return changed
