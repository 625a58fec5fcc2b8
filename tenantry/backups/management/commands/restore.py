"""`tenantry restore`: bring a control-plane backup back onto a fresh machine."""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from tenantry.backups.control_plane import control_plane_restore
from tenantry.core.errors import ApplicationError
from tenantry.runtime.backends.base import BackendError


class Command(BaseCommand):
    help = ("Restore the control plane from a `tenantry backup` (the newest unless one is named) into an empty "
            "database and data directory; then run `tenantry migrate` and `tenantry reconcile`.")
    requires_system_checks: list[str] = []  # the database is empty (or absent) until this has run

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("backup", nargs="?", help="object key at the target (default: its LATEST)")
        parser.add_argument("--target", help="backup target alias (default: TENANTRY_BACKUP_TARGET)")
        parser.add_argument("--installation-id", help="whose LATEST to read (default: this installation's)")
        parser.add_argument("--file", type=Path, help="restore from a downloaded backup file instead")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            manifest = control_plane_restore(key=options["backup"], target_alias=options["target"],
                                             installation_id=options["installation_id"], from_file=options["file"],
                                             log=self.stdout.write)
        except ApplicationError as exc:
            raise CommandError(f"{exc.message} [{exc.code}]", returncode=2) from exc
        except BackendError as exc:
            raise CommandError(f"The backup target failed: {exc.message} [{exc.code}]", returncode=1) from exc
        self.stdout.write(f"Restored the control plane of installation {manifest['installation_id']} "
                          f"(backed up {manifest['created_at']}). Next: tenantry migrate && tenantry reconcile")
