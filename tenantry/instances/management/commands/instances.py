"""`tenantry instances …`: create, list, show and drive instances from the shell."""

from __future__ import annotations

import json
import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from tenantry.accounts.services.teams import operator_team, team_by_slug
from tenantry.core.errors import ApplicationError
from tenantry.instances import selectors, services
from tenantry.instances.models import Operation, StepStatus

ACTIONS = {
    "start": services.instance_start,
    "stop": services.instance_stop,
    "restart": services.instance_restart,
    "hibernate": services.instance_hibernate,
    "wake": services.instance_wake,
    "delete": services.instance_delete,
}
NO_WORKER_HINT_SECONDS = 10


class Command(BaseCommand):
    help = "Manage app instances."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        create = sub.add_parser("create", help="create an instance and provision it")
        create.add_argument("slug")
        create.add_argument("--app", required=True, help="app name from the catalog")
        create.add_argument("--team", help="team slug (default: the installation's own 'operators' team)")
        create.add_argument("--input", action="append", default=[], metavar="NAME=VALUE", dest="inputs",
                            help="a value the app asks for (repeatable), e.g. --input openai_api_key=sk-…")
        create.add_argument("--template", action="append", dest="templates", metavar="NAME",
                            help="content to seed the app with (repeatable; default: the app's own)")
        create.add_argument("--memory-mb", type=int)
        create.add_argument("--cpus", type=float)
        create.add_argument("--hibernate-after", type=int, dest="hibernate_after_seconds",
                            help="seconds without a request before hibernation (0: never)")
        self._wait_options(create)
        listing = sub.add_parser("list", help="list instances")
        listing.add_argument("--json", action="store_true")
        show = sub.add_parser("show", help="show an instance and its recent operations")
        show.add_argument("ref", help="slug or id")
        show.add_argument("--json", action="store_true")
        for name in ACTIONS:
            action = sub.add_parser(name, help=f"{name} an instance")
            action.add_argument("ref", help="slug or id")
            self._wait_options(action)

    @staticmethod
    def _wait_options(parser: ArgumentParser) -> None:
        parser.add_argument("--wait", action="store_true", help="follow the operation's steps until it ends")
        parser.add_argument("--timeout", type=float, default=600, help="with --wait: give up after this many s")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        try:
            if action == "create":
                team = team_by_slug(options["team"]) if options["team"] else operator_team()
                bad = [item for item in options["inputs"] if "=" not in item]
                if bad:
                    raise CommandError(f"--input takes NAME=VALUE (got {bad[0]!r})", returncode=2)
                instance, operation = services.instance_create(
                    team=team, slug=options["slug"], app=options["app"], actor="cli", memory_mb=options["memory_mb"],
                    cpus=options["cpus"], hibernate_after_seconds=options["hibernate_after_seconds"],
                    inputs=dict(item.split("=", 1) for item in options["inputs"]), templates=options["templates"])
                self.stdout.write(f"Creating {instance.slug} ({instance.app}) at {instance.url}")
                self._finish(operation, options)
            elif action == "list":
                self._list(options["json"])
            elif action == "show":
                self._show(options["ref"], options["json"])
            else:
                instance = selectors.operator_instance_get(ref=options["ref"])
                operation = ACTIONS[action](instance=instance, actor="cli")
                self.stdout.write(f"{action.capitalize()} {instance.slug}: operation {operation.id}")
                self._finish(operation, options)
        except ApplicationError as exc:
            raise CommandError(f"{exc.message} [{exc.code}]", returncode=2) from exc

    # --- output ---------------------------------------------------------------------------------
    def _list(self, as_json: bool) -> None:
        rows = list(selectors.operator_instance_list())
        if as_json:
            self.stdout.write(json.dumps([{"slug": i.slug, "app": i.app, "team": i.team.slug, "status": i.status,
                                           "url": i.url, "id": str(i.id)} for i in rows], indent=2))
            return
        if not rows:
            self.stdout.write("No instances yet. Create one: tenantry instances create demo --app hello --wait")
            return
        self.stdout.write(f"{'SLUG':<24}{'TEAM':<20}{'APP':<12}{'STATUS':<14}URL")
        for i in rows:
            self.stdout.write(f"{i.slug:<24}{i.team.slug:<20}{i.app:<12}{i.status:<14}{i.url}")

    def _show(self, ref: str, as_json: bool) -> None:
        i = selectors.operator_instance_get(ref=ref)
        operations = selectors.operator_operation_list(instance=i, limit=5)
        if as_json:
            self.stdout.write(json.dumps({
                "id": str(i.id), "slug": i.slug, "app": i.app, "status": i.status, "desired_state": i.desired_state,
                "url": i.url, "memory_mb": i.memory_mb, "cpus": float(i.cpus), "pids": i.pids,
                "status_message": i.status_message,
                "operations": [{"id": str(o.id), "kind": o.kind, "status": o.status} for o in operations],
            }, indent=2))
            return
        self.stdout.write(f"{i.slug} — {i.app} {i.app_version}\n  url:      {i.url}\n  status:   {i.status} "
                          f"(desired: {i.desired_state})\n  size:     {i.memory_mb} MB, {i.cpus} CPU, {i.pids} pids\n"
                          f"  id:       {i.id}")
        if i.status_message:
            self.stdout.write(f"  message:  {i.status_message}")
        for o in operations:
            self.stdout.write(f"  {o.created_at:%Y-%m-%d %H:%M:%S}  {o.kind:<10}{o.status:<10}{o.error_message[:80]}")

    def _finish(self, operation: Operation, options: dict[str, Any]) -> None:
        if not options.get("wait"):
            self.stdout.write(f"Queued. Follow it with: tenantry instances show {operation.instance.slug}")
            return
        self._follow(operation, timeout=options["timeout"])

    def _follow(self, operation: Operation, *, timeout: float) -> None:
        started = time.monotonic()
        reported: set[int] = set()
        hinted = False
        while True:
            op = selectors.operator_operation_get(operation_id=str(operation.pk))
            steps = list(op.steps.all())
            for step in steps:
                if step.position in reported or step.status in (StepStatus.PENDING, StepStatus.RUNNING):
                    continue
                reported.add(step.position)
                took = f" ({step.duration_seconds:.2f} s)" if step.duration_seconds is not None else ""
                mark = "ok" if step.status == StepStatus.SUCCEEDED else step.status
                self.stdout.write(f"  [{step.position}/{len(steps)}] {step.title} … {mark}{took}")
                if step.error:
                    self.stdout.write(f"      {step.error}")
            if not op.is_active:
                break
            if op.status == "pending" and not hinted and time.monotonic() - started > NO_WORKER_HINT_SECONDS:
                self.stdout.write("  (still queued: is a worker running? start one with `tenantry up`)")
                hinted = True
            if time.monotonic() - started > timeout:
                raise CommandError(f"Gave up waiting after {timeout:g} s; the operation goes on.", returncode=3)
            time.sleep(0.2)
        if op.status != "succeeded":
            raise CommandError(f"{op.kind} failed: {op.error_message} [{op.error_code}]", returncode=1)
        instance = op.instance
        instance.refresh_from_db()
        self.stdout.write(self.style.SUCCESS(f"{instance.slug} is {instance.status}: {instance.url}"))
