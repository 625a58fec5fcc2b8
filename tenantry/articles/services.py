"""Record what the SEO pipeline's publishing workflow (WF3, the `seo-3-publish` template)
published, from its executions read through the automation backend, and hold it to the plan's
weekly articles limit.

- Each finished run is read once (`PublishRun`, unique per instance and execution id); each post
  it created becomes an `Article` (unique per instance and WordPress post id) and one `articles`
  usage event whose transaction id is derived from the post: a retried run, a re-read execution
  or two syncs at once never record nor meter an article twice.
- At the plan's `app_limits.<app>.articles_week`, WF3 is deactivated in n8n until the week ends
  (Monday 00:00 in the team's time zone) and reactivated then; the customer is told both times.
  Nothing else is touched: other workflows stay as they are, and a WF3 the customer turned off
  themselves is never turned on by us (only a pause we made is lifted).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from tenantry.articles.models import Article, PublishReading, PublishRun, RunOutcome
from tenantry.articles.selectors import articles_in_week, weekly_limit
from tenantry.automations.backends.base import AutomationBackend, PublishedPost
from tenantry.automations.backends.base import PublishRun as AppRun
from tenantry.automations.limits import pause_workflow, resume_paused, sync_states
from tenantry.automations.models import PauseReason, WorkflowState
from tenantry.automations.services import app_call, automation_for
from tenantry.billing.selectors import team_app_limit
from tenantry.catalog.registry import get_catalog
from tenantry.core.audit import audit_log
from tenantry.core.errors import ApplicationError, ValidationError
from tenantry.core.logging import get_logger
from tenantry.core.schedule import team_time_zone, week_bounds
from tenantry.events.services import emit
from tenantry.instances.models import Instance, Status
from tenantry.instances.secrets import instance_outputs
from tenantry.metering.meters import ARTICLES, reported_meter
from tenantry.metering.services.ingest import usage_record

log = get_logger(__name__)
PUBLISH_TEMPLATE = "seo-3-publish"
ACTOR = "articles:limit"


@dataclass
class SyncReport:
    runs: int = 0  # finished runs read for the first time
    articles: int = 0  # articles recorded for the first time
    failures: int = 0  # of those runs, the failed ones
    paused: bool = False  # the weekly limit paused the publishing workflow on this pass
    resumed: bool = False  # a new week (or a larger plan) reactivated it on this pass


def publish_workflow_id(instance: Instance) -> str | None:
    """The id n8n gave the publishing template when it was imported (the hook's outputs keep
    the imported workflows in the order of the chosen templates); None without the template."""
    chosen = list((instance.options or {}).get("templates") or [])
    if PUBLISH_TEMPLATE not in chosen:
        return None
    imported = instance_outputs(instance).get("workflows")
    index = chosen.index(PUBLISH_TEMPLATE)
    if not isinstance(imported, list) or index >= len(imported) or not isinstance(imported[index], dict):
        return None
    return str(imported[index].get("id") or "") or None


def articles_sync(*, instance: Instance, now: datetime | None = None) -> SyncReport:
    """Read the publishing workflow's new finished runs, record their articles and failures,
    then apply the weekly limit. The instance comes from a team-scoped selector."""
    workflow_id = publish_workflow_id(instance)
    if workflow_id is None:
        raise ValidationError(f"{instance.slug} does not run the SEO pipeline's publishing workflow.",
                              code="no_publishing_workflow")
    backend = automation_for(instance)
    known = frozenset(PublishRun.objects.filter(instance=instance).values_list("execution_id", flat=True))
    report = SyncReport()
    # Oldest first: the instance's articles events then arrive in the order they happened.
    for run in reversed(app_call(lambda: backend.publish_runs(workflow_id, known=known))):
        recorded = _record_run(instance=instance, workflow_id=workflow_id, run=run)
        if recorded is not None:
            report.runs += 1
            report.articles += recorded
            report.failures += bool(run.error)
    report.paused, report.resumed = app_call(lambda: weekly_limit_enforce(
        instance=instance, backend=backend, workflow_id=workflow_id, now=now or timezone.now()))
    PublishReading.objects.update_or_create(instance=instance, defaults={"read_at": timezone.now()})
    return report


@transaction.atomic
def _record_run(*, instance: Instance, workflow_id: str, run: AppRun) -> int | None:
    """One run and its articles, all or nothing; None when another sync recorded it first."""
    execution = run.execution
    outcome = RunOutcome.FAILED if run.error else RunOutcome.PUBLISHED if run.posts else RunOutcome.NOTHING
    try:
        with transaction.atomic():
            PublishRun.objects.create(instance=instance, execution_id=execution.id, workflow_id=workflow_id,
                                      outcome=outcome, status=execution.status, reason=run.error,
                                      failed_node=run.failed_node, started_at=execution.started_at,
                                      stopped_at=execution.stopped_at)
    except IntegrityError:
        return None
    new = sum(_record_article(instance, execution.id, post, execution.stopped_at) for post in run.posts)
    if run.error:
        audit_log(actor="articles:sync", action="articles.run_failed", target=instance,
                  data={"execution": execution.id, "node": run.failed_node, "reason": run.error})
        emit("articles.run_failed", team=instance.team,
             data={"instance_id": str(instance.pk), "slug": instance.slug, "execution_id": execution.id,
                   "reason": run.error, "node": run.failed_node})
    return new


def _record_article(instance: Instance, execution_id: str, post: PublishedPost, finished: datetime | None) -> bool:
    _, created = Article.objects.get_or_create(
        instance=instance, post_id=post.post_id,
        defaults={"title": post.title, "url": post.url, "status": post.status, "published_at": post.published_at,
                  "execution_id": execution_id})
    if not created:
        return False  # a retried run answered with a post already recorded
    # The transaction id names the post, not the row: metered once per post, whatever happens.
    usage_record(instance=instance, meter=reported_meter(ARTICLES), value=Decimal(1),
                 transaction_id=f"article:{instance.pk}:{post.post_id}",
                 timestamp=post.published_at or finished or timezone.now())
    log.info("articles.recorded", instance=instance.slug, post=post.post_id)
    return True


def weekly_limit_enforce(*, instance: Instance, backend: AutomationBackend, workflow_id: str,
                         now: datetime) -> tuple[bool, bool]:
    """Pause the publishing workflow for the rest of the week once the week's articles reach
    the plan's limit; lift that pause (only ours) when they no longer do. Returns (paused,
    resumed). The app is asked only when something may change."""
    limit = weekly_limit(instance)
    start, end = week_bounds(now, team_time_zone(instance.team))
    used = articles_in_week(instance, start, end)
    state = WorkflowState.objects.filter(instance=instance, workflow_id=workflow_id).first()
    ours = state is not None and state.paused_for == PauseReason.ARTICLES and state.paused_until is not None
    reached = limit is not None and used >= limit
    if not reached and not ours:
        return False, False
    workflows = backend.workflows()
    states = sync_states(instance, workflows, now)
    workflow = next((w for w in workflows if w.id == workflow_id), None)
    if workflow is None:
        return False, False  # the customer deleted it: nothing to pause or resume
    if reached:
        if not workflow.active:
            if ours:  # still paused: the pause now ends with this week
                WorkflowState.objects.filter(pk=states[workflow_id].pk).update(paused_until=end)
            return False, False  # paused already, or turned off by the customer: theirs to keep
        pause_workflow(backend, states[workflow_id], until=end, reason=PauseReason.ARTICLES)
        _tell(instance, "articles.paused", workflow=workflow.name, limit=limit, published=used, until=end)
        return True, False
    held = WorkflowState.objects.filter(instance=instance, paused_for=PauseReason.EXECUTIONS,
                                        paused_until__gt=now).order_by("-paused_until").first()
    if held is not None:
        # The executions are used up too: that pause holds it now, and its own check lifts it.
        WorkflowState.objects.filter(pk=states[workflow_id].pk).update(paused_for=PauseReason.EXECUTIONS,
                                                                       paused_until=held.paused_until)
        return False, False
    # Only the publishing workflow is ever paused for articles; the plan's active-workflow
    # limit still counts (the customer may have used the room meanwhile: it stays off then).
    if not resume_paused(backend, workflows, states, reason=PauseReason.ARTICLES,
                         active_limit=team_app_limit(instance.team, instance.app, "active_workflows"), now=now):
        return False, False
    _tell(instance, "articles.resumed", workflow=workflow.name, limit=limit, published=used, until=None)
    return False, True


def _tell(instance: Instance, event: str, *, workflow: str, limit: int | None, published: int,
          until: datetime | None) -> None:
    data = {"instance_id": str(instance.pk), "slug": instance.slug, "workflow": workflow, "limit": limit,
            "published": published, "until": until.isoformat() if until else None}
    with transaction.atomic():
        audit_log(actor=ACTOR, action=event, target=instance, data=data)
        emit(event, team=instance.team, data={**data, "until_date": _local_date(instance, until)})
    log.info(event, instance=instance.slug, published=published, limit=limit)


def _local_date(instance: Instance, moment: datetime | None) -> str:
    """The pause's end as the team reads it (its own time zone), for the message."""
    if moment is None:
        return ""
    return f"{moment.astimezone(team_time_zone(instance.team)):%Y-%m-%d %H:%M}"


def wake_for_ended_pauses(*, now: datetime | None = None) -> list[str]:
    """Wake hibernated instances whose articles pause has ended: a paused WF3 has no schedule
    Tenantry could wake the instance for, so without this its next run (Monday 08:00) would be
    missed. Once awake, the next sync reactivates WF3 and the schedules are read again."""
    from tenantry.instances.services import instance_wake

    now = now or timezone.now()
    woken = []
    ended = WorkflowState.objects.filter(paused_for=PauseReason.ARTICLES, paused_until__lte=now,
                                         instance__status=Status.HIBERNATED).select_related("instance")
    for state in ended:
        try:
            instance_wake(instance=state.instance, actor=ACTOR)
        except ApplicationError as exc:  # busy, or no longer hibernated
            log.info("articles.wake_skipped", instance=state.instance.slug, reason=exc.code)
            continue
        audit_log(actor=ACTOR, action="instance.articles_wake", target=state.instance,
                  data={"paused_until": state.paused_until.isoformat() if state.paused_until else None})
        woken.append(state.instance.slug)
    return woken


def sync_all_articles() -> int:
    """Every running instance of an automation app that has the publishing workflow; one app's
    trouble does not stop the others. Returns the articles recorded."""
    apps = [name for name, spec in get_catalog().items() if spec.automation is not None]
    recorded = 0
    for instance in Instance.objects.filter(app__in=apps, status=Status.RUNNING, provisioned_at__isnull=False) \
            .select_related("team"):
        if publish_workflow_id(instance) is None:
            continue
        try:
            recorded += articles_sync(instance=instance).articles
        except ApplicationError as exc:
            log.info("articles.sync_failed", instance=instance.slug, reason=exc.code)
    return recorded
