"""Reads for the Articles page and API. The instance comes from the team-scoped instance
selector; every query here is filtered by the team as well."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from tenantry.accounts.models import Team
from tenantry.articles.models import Article, PublishReading, PublishRun, RunOutcome, counted_at
from tenantry.automations.models import PauseReason, WorkflowState
from tenantry.billing.selectors import team_app_limit
from tenantry.core.schedule import team_time_zone, week_bounds
from tenantry.instances.models import Instance

FAILED_RUNS_SHOWN = 20


@dataclass(frozen=True)
class ArticlesWeek:
    start: datetime
    end: datetime
    time_zone: str
    published: int
    limit: int | None  # the plan's articles per week; None: no limit
    paused_until: datetime | None  # the publishing workflow is paused (limit reached) until then

    @property
    def percent(self) -> int:
        if not self.limit:
            return 0
        return min(int(self.published * 100 / self.limit), 100)


def weekly_limit(instance: Instance) -> int | None:
    return team_app_limit(instance.team, instance.app, "articles_week")


def articles_in_week(instance: Instance, start: datetime, end: datetime) -> int:
    return Article.objects.annotate(counted=counted_at()).filter(
        instance=instance, counted__gte=start, counted__lt=end).count()


def articles_read_at(*, team: Team, instance: Instance) -> datetime | None:
    """When the publishing workflow's runs were last read from the app (None: never yet)."""
    return PublishReading.objects.filter(instance=instance, instance__team=team) \
        .values_list("read_at", flat=True).first()


def article_list(*, team: Team, instance: Instance) -> QuerySet[Article]:
    return Article.objects.filter(instance=instance, instance__team=team).order_by("-published_at", "-created_at")


def failed_runs(*, team: Team, instance: Instance) -> QuerySet[PublishRun]:
    return PublishRun.objects.filter(instance=instance, instance__team=team, outcome=RunOutcome.FAILED) \
        .order_by("-started_at", "-created_at")


def articles_week(*, team: Team, instance: Instance, now: datetime) -> ArticlesWeek:
    """This week's articles against the plan's limit, and the pause the limit made, if any."""
    zone = team_time_zone(team)
    start, end = week_bounds(now, zone)
    pause = WorkflowState.objects.filter(instance=instance, instance__team=team, paused_for=PauseReason.ARTICLES,
                                         paused_until__gt=now).order_by("-paused_until").first()
    return ArticlesWeek(start=start, end=end, time_zone=zone.key, published=articles_in_week(instance, start, end),
                        limit=weekly_limit(instance), paused_until=pause.paused_until if pause else None)
