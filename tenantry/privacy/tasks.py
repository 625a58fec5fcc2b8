from __future__ import annotations

from huey.contrib.djhuey import db_periodic_task

from tenantry.core.schedule import local_crontab
from tenantry.privacy.services.audit import audit_anonymise_expired
from tenantry.privacy.services.teams import team_deletions_purge


@db_periodic_task(local_crontab("AUDIT_ANONYMISE_AT"))
def anonymise_old_audit_rows() -> int:
    return audit_anonymise_expired()


@db_periodic_task(local_crontab("TEAM_PURGE_AT"))
def purge_deleted_teams() -> int:
    return team_deletions_purge()
