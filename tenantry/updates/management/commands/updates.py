"""`tenantry updates …`: roll an app version out to instances, follow and cancel rollouts, set a
team's maintenance window."""

from __future__ import annotations

import json
import time
from argparse import ArgumentParser
from datetime import time as dt_time
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from tenantry.accounts.services.teams import operator_team, team_by_slug
from tenantry.core.errors import ApplicationError
from tenantry.instances.selectors import operator_instance_get
from tenantry.updates import selectors, services
from tenantry.updates.models import Rollout, RolloutStatus
from tenantry.updates.templates import template_push, template_rollback


class Command(BaseCommand):
    help = "Roll app versions out to instances (with automatic rollback), list and cancel rollouts, set windows."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        rollout = sub.add_parser("rollout", help="update instances of an app to a version of the catalog")
        rollout.add_argument("app")
        rollout.add_argument("version")
        which = rollout.add_mutually_exclusive_group(required=True)
        which.add_argument("--instance", dest="instances", action="append", metavar="REF",
                           help="an instance (slug or id); repeat for several")
        which.add_argument("--percent", type=int, help="this share of the app's running instances")
        which.add_argument("--all", action="store_true", help="every running instance of the app")
        rollout.add_argument("--max-failures", type=int, default=0, help="stop once more updates failed (default 0)")
        rollout.add_argument("--concurrency", type=int, default=1, help="updates at the same time (default 1)")
        rollout.add_argument("--now", action="store_true", help="ignore the teams' maintenance windows")
        rollout.add_argument("--wait", action="store_true", help="follow the rollout until it ends")
        rollout.add_argument("--timeout", type=float, default=3600, help="with --wait: give up after this many s")
        listing = sub.add_parser("list", help="rollouts, newest first")
        listing.add_argument("--json", action="store_true")
        show = sub.add_parser("show", help="a rollout and each instance's outcome")
        show.add_argument("rollout_id")
        show.add_argument("--json", action="store_true")
        cancel = sub.add_parser("cancel", help="start no more updates of a rollout")
        cancel.add_argument("rollout_id")
        push = sub.add_parser("push-template", help="push the catalog's version of a workflow template")
        push.add_argument("app")
        push.add_argument("template")
        push.add_argument("--instance", dest="instances", action="append", metavar="REF",
                          help="an instance (slug or id); repeat for several; default: every one that has it")
        back = sub.add_parser("rollback-template", help="put back the version the last push replaced")
        back.add_argument("ref", help="instance slug or id")
        back.add_argument("template")
        window = sub.add_parser("window", help="set (or with --clear remove) a team's maintenance window")
        window.add_argument("--team", help="team slug (default: the operators' team)")
        window.add_argument("--start", help="local time it opens, HH:MM")
        window.add_argument("--duration", type=int, default=120, help="minutes (default 120)")
        window.add_argument("--weekdays", default="", help="e.g. 0,6 (0 = Monday); default every day")
        window.add_argument("--timezone", default="UTC")
        window.add_argument("--clear", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, f"_{options['action'].replace('-', '_')}")(options)
        except ApplicationError as exc:
            raise CommandError(f"{exc.message} [{exc.code}]", returncode=2) from exc
        except ValueError as exc:
            raise CommandError(str(exc), returncode=2) from exc

    def _rollout(self, options: dict[str, Any]) -> None:
        instances = None
        if options["instances"]:
            instances = [operator_instance_get(ref=ref) for ref in options["instances"]]
        rollout = services.rollout_create(app=options["app"], to_version=options["version"], actor="cli",
                                          instances=instances, percent=options["percent"],
                                          max_failures=options["max_failures"], concurrency=options["concurrency"],
                                          respect_windows=not options["now"])
        self.stdout.write(f"Rollout {rollout.pk}: {rollout.app} → {rollout.to_version}, "
                          f"{rollout.targets.count()} instance(s)")
        if options["wait"]:
            deadline = time.monotonic() + options["timeout"]
            while selectors.operator_rollout_get(rollout_id=str(rollout.pk)).status == RolloutStatus.RUNNING:
                if time.monotonic() > deadline:
                    raise CommandError("Still running; follow it with `tenantry updates show`.", returncode=3)
                time.sleep(1)
        self._print(selectors.operator_rollout_get(rollout_id=str(rollout.pk)))
        rollout.refresh_from_db()
        if rollout.status == RolloutStatus.HALTED:
            raise CommandError(rollout.status_message, returncode=1)

    def _list(self, options: dict[str, Any]) -> None:
        rollouts = list(selectors.operator_rollout_list()[:100])
        if options["json"]:
            self.stdout.write(json.dumps([_as_dict(r) for r in rollouts], indent=2))
            return
        for r in rollouts:
            self.stdout.write(f"{r.pk}  {r.app} → {r.to_version}  {r.status:<10} {r.created_at:%Y-%m-%d %H:%M}  "
                              f"{r.status_message}")

    def _show(self, options: dict[str, Any]) -> None:
        rollout = selectors.operator_rollout_get(rollout_id=options["rollout_id"])
        if options["json"]:
            self.stdout.write(json.dumps(_as_dict(rollout), indent=2))
        else:
            self._print(rollout)

    def _cancel(self, options: dict[str, Any]) -> None:
        rollout = services.rollout_cancel(rollout=selectors.operator_rollout_get(rollout_id=options["rollout_id"]),
                                          actor="cli")
        self.stdout.write(f"Rollout {rollout.pk} cancelled; updates already running finish.")

    def _push_template(self, options: dict[str, Any]) -> None:
        instances = None
        if options["instances"]:
            instances = [operator_instance_get(ref=ref) for ref in options["instances"]]
        results = template_push(app=options["app"], name=options["template"], actor="cli", instances=instances)
        for result in results:
            mark = "ok" if result.ok else "FAILED"
            self.stdout.write(f"  {result.instance:<30} {mark} {result.version} {result.message}".rstrip())
        if not results:
            self.stdout.write("No instance has this template.")
        if any(not r.ok for r in results):
            raise CommandError("Some instances were not updated (see above).", returncode=1)

    def _rollback_template(self, options: dict[str, Any]) -> None:
        record = template_rollback(instance=operator_instance_get(ref=options["ref"]), name=options["template"],
                                   actor="cli")
        self.stdout.write(f"{options['ref']}: {record.name} back to version {record.version}")

    def _window(self, options: dict[str, Any]) -> None:
        team = team_by_slug(options["team"]) if options["team"] else operator_team()
        if options["clear"]:
            services.maintenance_window_clear(team=team, actor="cli")
            self.stdout.write(f"{team.slug}: no maintenance window, updates may happen at any time")
            return
        if not options["start"]:
            raise CommandError("--start HH:MM is required (or --clear)", returncode=2)
        weekdays = [int(d) for d in options["weekdays"].split(",") if d.strip()]
        start = dt_time.fromisoformat(options["start"])
        window = services.maintenance_window_set(team=team, actor="cli", start_time=start,
                                                 duration_minutes=options["duration"], weekdays=weekdays,
                                                 tz=options["timezone"])
        self.stdout.write(f"{team.slug}: updates from {window.start_time:%H:%M} for {window.duration_minutes} min "
                          f"({window.timezone})")

    def _print(self, rollout: Rollout) -> None:
        self.stdout.write(f"{rollout.app} → {rollout.to_version}: {rollout.status} {rollout.status_message}".rstrip())
        for target in rollout.targets.select_related("instance").order_by("position"):
            self.stdout.write(f"  {target.instance.slug:<30} {target.from_version or '-':>8} → {rollout.to_version}  "
                              f"{target.status}  {target.message[:200]}".rstrip())


def _as_dict(rollout: Rollout) -> dict[str, Any]:
    return {"id": str(rollout.pk), "app": rollout.app, "to_version": rollout.to_version, "scope": rollout.scope,
            "percent": rollout.percent, "status": rollout.status, "status_message": rollout.status_message,
            "created_at": rollout.created_at.isoformat(),
            "targets": [{"instance": t.instance.slug, "from_version": t.from_version, "status": t.status,
                         "message": t.message, "operation_id": str(t.operation_id) if t.operation_id else None}
                        for t in rollout.targets.select_related("instance").order_by("position")]}
