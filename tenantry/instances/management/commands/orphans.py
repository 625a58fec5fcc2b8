"""`tenantry orphans …`: the resources of instances the database does not know (after a
control-plane restore), which the reconciler marks and removes only after the grace period."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from tenantry.core.errors import ApplicationError
from tenantry.instances.orphans import grace_period, grace_text, orphans_keep, orphans_list, orphans_purge

_ACTOR = "cli"


class Command(BaseCommand):
    help = "List, keep or purge the resources of instances the database does not know."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        sub.add_parser("list", help="every marked resource, its instance id and when it will be removed")
        keep = sub.add_parser("keep", help="never remove this instance's resources automatically "
                                           "(recover its data by hand, then purge)")
        keep.add_argument("instance", help="the instance id the resources' label names")
        purge = sub.add_parser("purge", help="remove this instance's resources now (its data is lost)")
        purge.add_argument("instance", help="the instance id the resources' label names")
        purge.add_argument("--yes", action="store_true", help="confirm: the volumes' data is deleted")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        try:
            if action == "list":
                self._list()
            elif action == "keep":
                for mark in orphans_keep(instance_ref=options["instance"], actor=_ACTOR):
                    self.stdout.write(f"kept {mark.kind} {mark.name}")
            elif action == "purge":
                if not options["yes"]:
                    raise CommandError("purge deletes the volumes' data for good: add --yes to confirm")
                for mark in orphans_purge(instance_ref=options["instance"], actor=_ACTOR):
                    self.stdout.write(f"removed {mark.kind} {mark.name}")
        except ApplicationError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc

    def _list(self) -> None:
        marks = orphans_list()
        if not marks:
            self.stdout.write("No orphaned resource.")
            return
        self.stdout.write(f"Resources of instances the database does not know (removed {grace_text()} after "
                          "first seen unless kept):")
        for mark in marks:
            fate = (f"kept by {mark.kept_by}" if mark.kept_at
                    else f"removed after {mark.first_seen_at + grace_period():%Y-%m-%d %H:%M} UTC")
            self.stdout.write(f"{mark.instance_ref}  {mark.server.name}  {mark.kind:<9} {mark.name}  "
                              f"first seen {mark.first_seen_at:%Y-%m-%d %H:%M} UTC, {fate}")
