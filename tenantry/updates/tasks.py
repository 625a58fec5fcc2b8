"""Queue tasks of rollouts: a pass when an update ends, and one every minute."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task


@db_task(retries=0)
def rollout_advance_task(rollout_id: str) -> None:
    from tenantry.updates.services import rollout_advance

    rollout_advance(rollout_id=rollout_id)


@db_periodic_task(crontab(minute="*"))
def advance_rollouts_task() -> None:
    from tenantry.updates.services import advance_running_rollouts

    advance_running_rollouts()
