"""Read the publishing workflow's runs every two minutes, so articles, failures and the weekly
limit follow what n8n did even when nobody looks (WF3 runs a few times a week; reading a run
already read costs one listing call, no data)."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task


@db_periodic_task(crontab(minute="*/2"))
def sync_articles_task() -> int:
    from tenantry.articles.services import sync_all_articles, wake_for_ended_pauses

    wake_for_ended_pauses()
    return sync_all_articles()
