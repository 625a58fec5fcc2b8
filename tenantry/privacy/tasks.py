from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from tenantry.privacy.services.audit import audit_anonymise_expired
from tenantry.privacy.services.teams import team_deletions_purge


@db_periodic_task(crontab(hour="3", minute="20"))
def anonymise_old_audit_rows() -> int:
    return audit_anonymise_expired()


@db_periodic_task(crontab(hour="3", minute="40"))
def purge_deleted_teams() -> int:
    return team_deletions_purge()
