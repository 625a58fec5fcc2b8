"""Plan limits counted inside an automation app, enforced through its backend:

- active workflows (`app_limits.<app>.active_workflows`): past the limit, the newest activations
  are deactivated (Tenantry remembers since when it has seen each workflow active);
- executions per period, when the plan's policy for them is `block`: every active workflow is
  paused until the period ends, then reactivated.

The customer is told each time what happened and why (email + audit row). Called from the quota
checks (every 15 minutes, and the nightly 06:00 run) for running instances of automation apps.

`pause_workflow` / `resume_paused` are shared with the weekly articles limit (tenantry/articles):
each pause remembers its reason, and only its own check lifts it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from tenantry.automations.backends.base import AutomationBackend, Workflow
from tenantry.automations.models import PauseReason, WorkflowState
from tenantry.core.audit import audit_log
from tenantry.core.errors import Conflict
from tenantry.core.logging import get_logger
from tenantry.instances.models import Instance

log = get_logger(__name__)
ACTOR = "metering:policy"


@dataclass
class LimitOutcome:
    deactivated: list[str] = field(default_factory=list)  # names, over the active-workflow limit
    paused: list[str] = field(default_factory=list)  # names, executions used up
    resumed: list[str] = field(default_factory=list)  # names, reactivated after a pause


def enforce_workflow_limits(*, instance: Instance, backend: AutomationBackend, active_limit: int | None,
                            paused_until: datetime | None, period_end: datetime | None = None) -> LimitOutcome:
    """`paused_until`: the executions are used up and the plan blocks: pause every active
    workflow until then. None: reactivate what a past pause stopped, then apply `active_limit`."""
    now = timezone.now()
    outcome = LimitOutcome()
    workflows = backend.workflows()
    states = sync_states(instance, workflows, now)
    if paused_until is not None:
        for workflow in workflows:
            if workflow.active:
                pause_workflow(backend, states[workflow.id], until=paused_until, reason=PauseReason.EXECUTIONS)
                outcome.paused.append(workflow.name)
    else:
        outcome.resumed = resume_paused(backend, workflows, states, reason=PauseReason.EXECUTIONS,
                                        active_limit=active_limit, now=now)
        if outcome.resumed:
            workflows = backend.workflows()
            states = sync_states(instance, workflows, now)
        active = [w for w in workflows if w.active]
        if active_limit is not None and len(active) > active_limit:
            # Oldest activations keep running; ties (seen in the same pass) by the app's own dates.
            ranked = sorted(active, key=lambda w: (states[w.id].active_since or now,
                                                   w.updated_at or now, w.id))
            for workflow in reversed(ranked[active_limit:]):
                backend.set_active(workflow.id, False)
                WorkflowState.objects.filter(pk=states[workflow.id].pk).update(active_since=None)
                outcome.deactivated.append(workflow.name)
    _tell(instance, outcome, active_limit=active_limit, paused_until=paused_until, period_end=period_end)
    return outcome


def pause_workflow(backend: AutomationBackend, state: WorkflowState, *, until: datetime, reason: str) -> None:
    """Deactivate an active workflow until `until`, remembering why (for resume_paused)."""
    backend.set_active(state.workflow_id, False)
    WorkflowState.objects.filter(pk=state.pk).update(paused_until=until, paused_for=reason, active_since=None)


def resume_paused(backend: AutomationBackend, workflows: list[Workflow], states: dict[str, WorkflowState], *,
                  reason: str, active_limit: int | None, now: datetime) -> list[str]:
    """Reactivate the workflows a pause for `reason` stopped, within the plan's active-workflow
    limit (paused ones count against it too: the rest stays off). Returns their names."""
    paused = [w for w in workflows if states[w.id].paused_until is not None
              and (states[w.id].paused_for or PauseReason.EXECUTIONS) == reason]
    room = None if active_limit is None else max(active_limit - sum(w.active for w in workflows), 0)
    resumed = []
    for workflow in sorted(paused, key=lambda w: w.name):
        if room is not None and room <= 0:
            break
        if not workflow.active:
            backend.set_active(workflow.id, True)
        WorkflowState.objects.filter(pk=states[workflow.id].pk).update(paused_until=None, paused_for="",
                                                                       active_since=now)
        resumed.append(workflow.name)
        room = None if room is None else room - 1
    return resumed


def require_not_paused(*, instance: Instance, workflow_id: str) -> None:
    """Refuse to start or activate a workflow a plan limit has paused (`workflow_paused`)."""
    state = WorkflowState.objects.filter(instance=instance, workflow_id=workflow_id,
                                         paused_until__gt=timezone.now()).first()
    if state is None or state.paused_until is None:
        return
    until = f"{state.paused_until:%Y-%m-%d %H:%M} UTC"
    if state.paused_for == PauseReason.ARTICLES:
        message = (f"{state.name or workflow_id} is paused until {until}: this week's articles allowed by the plan "
                   "are published. It resumes by itself; a larger plan resumes it now.")
    else:
        message = (f"{state.name or workflow_id} is paused until {until}: the executions the plan includes for "
                   "this period are used up.")
    raise Conflict(message, code="workflow_paused",
                   details={"workflow": workflow_id, "paused_for": state.paused_for or PauseReason.EXECUTIONS,
                            "until": state.paused_until.isoformat()})


def sync_states(instance: Instance, workflows: list[Workflow], now: datetime) -> dict[str, WorkflowState]:
    """The stored state of every workflow the app has (created on first sight), active-since kept current."""
    known = {s.workflow_id: s for s in WorkflowState.objects.filter(instance=instance)}
    for workflow in workflows:
        state = known.get(workflow.id)
        if state is None:
            state = WorkflowState.objects.create(instance=instance, workflow_id=workflow.id, name=workflow.name,
                                                 active_since=now if workflow.active else None)
            known[workflow.id] = state
        elif workflow.active and state.active_since is None:
            state.active_since, state.name = now, workflow.name
            state.save(update_fields=["active_since", "name", "updated_at"])
        elif not workflow.active and state.active_since is not None:
            state.active_since = None
            state.save(update_fields=["active_since", "updated_at"])
    return known


def active_workflow_count(*, instance: Instance, backend: AutomationBackend) -> int:
    return sum(w.active for w in backend.workflows())


def _tell(instance: Instance, outcome: LimitOutcome, *, active_limit: int | None, paused_until: datetime | None,
          period_end: datetime | None) -> None:
    for action, names in (("workflows.deactivated_over_limit", outcome.deactivated),
                          ("workflows.paused_executions_used_up", outcome.paused),
                          ("workflows.resumed", outcome.resumed)):
        if names:
            audit_log(actor=ACTOR, action=action, target=instance,
                      data={"workflows": names, "active_limit": active_limit,
                            "until": paused_until.isoformat() if paused_until else None})
            log.info(action, instance=instance.slug, workflows=len(names))
    if outcome.deactivated or outcome.paused or outcome.resumed:
        from tenantry.metering.tasks import workflow_limits_email_task

        data = {"deactivated": outcome.deactivated, "paused": outcome.paused, "resumed": outcome.resumed,
                "active_limit": active_limit,
                "until": f"{(paused_until or period_end):%Y-%m-%d}" if (paused_until or period_end) else ""}
        transaction.on_commit(lambda: workflow_limits_email_task(str(instance.pk), data))
