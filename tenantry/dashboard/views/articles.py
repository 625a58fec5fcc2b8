"""An n8n instance's Articles page: what the SEO pipeline published, this week's count against
the plan's limit (and why publishing is paused when it is), and the failed runs' reasons."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tenantry.accounts.access import Access
from tenantry.articles import selectors, services
from tenantry.core.errors import ApplicationError
from tenantry.dashboard.context import with_team
from tenantry.instances import selectors as instance_selectors

ARTICLES_SHOWN = 100


@with_team("instance.view")
def articles(request: HttpRequest, access: Access, ref: str) -> HttpResponse:
    instance = instance_selectors.instance_get(team=access.team, ref=ref)
    # Reads only what was recorded: the two-minute task and "Read from n8n now" (POST) read the app.
    recorded = selectors.article_list(team=access.team, instance=instance)
    return render(request, "dashboard/articles.html", {
        "access": access, "instance": instance,
        "read_at": selectors.articles_read_at(team=access.team, instance=instance),
        "publishes": services.publish_workflow_id(instance) is not None,
        "week": selectors.articles_week(team=access.team, instance=instance, now=timezone.now()),
        "articles": recorded[:ARTICLES_SHOWN], "total": recorded.count(),
        "failed_runs": selectors.failed_runs(team=access.team, instance=instance)[:selectors.FAILED_RUNS_SHOWN],
    })


@require_POST
@with_team("instance.view")
def articles_refresh(request: HttpRequest, access: Access, ref: str) -> HttpResponse:
    instance = instance_selectors.instance_get(team=access.team, ref=ref)
    try:
        report = services.articles_sync(instance=instance)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Read from n8n: %(articles)s new article(s), %(failures)s failed run(s).")
                         % {"articles": report.articles, "failures": report.failures})
    return redirect("dashboard:instance_articles", team_slug=access.team.slug, ref=instance.slug)
