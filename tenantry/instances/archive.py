"""Where archives made before the final backup was a real backup (tenantry.backups: the
`final_backup` step) were written; dunning removes what is left there when it deletes."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings


def archive_dir(instance_id: str) -> Path:
    return Path(settings.DATA_DIR) / "archives" / instance_id
