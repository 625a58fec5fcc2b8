"""`tenantry backups …`: back up, list, download, restore in place and restore to a new instance."""

from __future__ import annotations

import json
import sys
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError
from django.utils import timezone

from tenantry.backups import selectors, services
from tenantry.backups.download import download_stream
from tenantry.backups.models import Backup
from tenantry.core.errors import ApplicationError
from tenantry.instances.management.commands.instances import Command as InstancesCommand
from tenantry.instances.selectors import operator_instance_get


class Command(InstancesCommand):
    help = "Back up instances, list and download backups, restore them in place or to a new instance."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        create = sub.add_parser("create", help="back up an instance now")
        create.add_argument("ref", help="instance slug or id")
        self._wait_options(create)
        listing = sub.add_parser("list", help="an instance's backups with size and age")
        listing.add_argument("ref", help="instance slug or id")
        listing.add_argument("--json", action="store_true")
        show = sub.add_parser("show", help="a backup and its manifest")
        show.add_argument("backup_id")
        download = sub.add_parser("download", help="save a backup as a tar of its volumes' tars (streamed)")
        download.add_argument("backup_id")
        download.add_argument("-o", "--output", required=True, help="file to write, or - for stdout")
        restore = sub.add_parser("restore", help="restore a backup into its instance (a safety backup first)")
        restore.add_argument("backup_id")
        restore.add_argument("--into", help="another instance of the same team and app (slug or id)")
        self._wait_options(restore)
        clone = sub.add_parser("clone", help="restore a backup to a new instance")
        clone.add_argument("backup_id")
        clone.add_argument("slug", help="name of the new instance")
        self._wait_options(clone)

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        try:
            if action == "create":
                instance = operator_instance_get(ref=options["ref"])
                backup, operation = services.backup_create(instance=instance, actor="cli")
                self.stdout.write(f"Backing up {instance.slug}: backup {backup.pk}, operation {operation.pk}")
                self._finish(operation, options)
            elif action == "list":
                self._list_backups(options["ref"], options["json"])
            elif action == "show":
                backup = selectors.operator_backup_get(backup_id=options["backup_id"])
                self.stdout.write(json.dumps(_as_dict(backup), indent=2))
            elif action == "download":
                self._download(options["backup_id"], options["output"])
            elif action == "restore":
                backup = selectors.operator_backup_get(backup_id=options["backup_id"])
                ref = options["into"] or (str(backup.instance_id) if backup.instance_id else "")
                if not ref:
                    raise CommandError("This backup's instance is gone: use `clone` to restore it to a new one.",
                                       returncode=2)
                instance = operator_instance_get(ref=ref)
                operation = services.backup_restore(instance=instance, backup=backup, actor="cli")
                self.stdout.write(f"Restoring {instance.slug} from {backup.pk}: operation {operation.pk}")
                self._finish(operation, options)
            elif action == "clone":
                backup = selectors.operator_backup_get(backup_id=options["backup_id"])
                # Into the backup's own team: its data and credentials belong to that team.
                instance, operation = services.backup_clone(team=backup.team, backup=backup, slug=options["slug"],
                                                            actor="cli")
                self.stdout.write(f"Creating {instance.slug} from backup {backup.pk} at {instance.url}")
                self._finish(operation, options)
        except ApplicationError as exc:
            raise CommandError(f"{exc.message} [{exc.code}]", returncode=2) from exc

    def _list_backups(self, ref: str, as_json: bool) -> None:
        rows = list(selectors.operator_backup_list(instance=operator_instance_get(ref=ref)))
        if as_json:
            self.stdout.write(json.dumps([_as_dict(b) for b in rows], indent=2))
            return
        if not rows:
            self.stdout.write(f"No backups of {ref} yet. Take one: tenantry backups create {ref} --wait")
            return
        self.stdout.write(f"{'ID':<38}{'KIND':<8}{'STATUS':<11}{'SIZE':>10}  AGE")
        for b in rows:
            self.stdout.write(f"{b.pk!s:<38}{b.kind:<8}{b.status:<11}{_size(b.size_bytes):>10}  {_age(b)}")

    def _download(self, backup_id: str, output: str) -> None:
        backup = selectors.operator_backup_get(backup_id=backup_id)
        if not backup.is_restorable:
            raise CommandError(f"This backup is {backup.status}: nothing to download.", returncode=2)
        if output == "-":
            for chunk in download_stream(backup):
                sys.stdout.buffer.write(chunk)
            return
        path = Path(output)
        partial = path.with_name(path.name + ".part")
        with partial.open("wb") as out:  # a download cut short never has the final name
            for chunk in download_stream(backup):
                out.write(chunk)
        partial.replace(path)
        self.stdout.write(f"Saved {path} ({_size(path.stat().st_size)})")


def _as_dict(b: Backup) -> dict[str, Any]:
    return {"id": str(b.pk), "instance": b.instance_slug, "app": b.app, "kind": b.kind, "status": b.status,
            "target": b.target, "size_bytes": b.size_bytes, "created_at": b.created_at.isoformat(),
            "error": b.error_message, "manifest": b.manifest}


def _size(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def _age(backup: Backup) -> str:
    seconds = int((timezone.now() - backup.created_at).total_seconds())
    for unit, length in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= length:
            return f"{seconds // length}{unit} ago"
    return f"{seconds}s ago"
