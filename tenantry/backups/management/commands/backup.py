"""`tenantry backup`: back the control plane itself up (database + keys, encrypted) to a target."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from cryptography.fernet import Fernet
from django.core.management.base import BaseCommand, CommandError

from tenantry.backups.control_plane import control_plane_backup
from tenantry.core.errors import ApplicationError
from tenantry.runtime.backends.base import BackendError


class Command(BaseCommand):
    help = ("Back up the control plane (its database and the keys in its data directory), encrypted with "
            "TENANTRY_CONTROL_BACKUP_KEY, to a backup target. `tenantry restore` brings it back.")

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--target", help="backup target alias (default: TENANTRY_BACKUP_TARGET)")
        parser.add_argument("--new-key", action="store_true",
                            help="print a new key for TENANTRY_CONTROL_BACKUP_KEY and exit (back nothing up)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["new_key"]:
            self.stdout.write(Fernet.generate_key().decode())
            return
        try:
            backup = control_plane_backup(target_alias=options["target"], log=self.stdout.write)
        except ApplicationError as exc:
            raise CommandError(f"{exc.message} [{exc.code}]", returncode=2) from exc
        except BackendError as exc:
            raise CommandError(f"The backup target failed: {exc.message} [{exc.code}]", returncode=1) from exc
        self.stdout.write(f"Control plane backed up: {backup.key}")
