"""`tenantry serve`: web, task workers, the scheduler and the edge, forked from one preloaded
process so that they share its memory (tenantry.ops.serve). What tenantry-server.service and
compose run; Traefik runs beside it."""

from __future__ import annotations

import os
import signal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Run the production processes (web, workers, scheduler, edge) from one preloaded parent."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--web-workers", type=int, default=2, help="gunicorn worker processes (0: no web)")
        parser.add_argument("--web-threads", type=int, default=4)
        parser.add_argument("--workers", type=int, default=2, help="task worker processes")
        parser.add_argument("--worker-threads", type=int, default=None, help="threads per task worker")
        parser.add_argument("--no-scheduler", action="store_true",
                            help="no periodic scheduler here (exactly one per installation schedules)")
        parser.add_argument("--no-edge", action="store_true", help="no edge listener here")
        parser.add_argument("--host", default=None, help="where web and edge listen (TENANTRY_WEB_HOST)")

    def handle(self, *args: Any, **options: Any) -> None:
        from tenantry.ops.serve import ForkSupervisor, edge_role, preload, web_role, worker_role

        if settings.HUEY.get("immediate"):
            raise CommandError("TENANTRY_HUEY_IMMEDIATE is on: tasks would run in the web processes")
        conf = settings.TENANTRY
        host = options["host"] or conf["WEB_HOST"]
        application = preload()
        roles = {}
        if options["web_workers"] > 0:
            roles["web"] = web_role(application, bind=f"{host}:{conf['WEB_PORT']}", workers=options["web_workers"],
                                    threads=options["web_threads"])
        for number in range(1, options["workers"] + 1):
            roles[f"worker {number}"] = worker_role(periodic=False, threads=options["worker_threads"])
        if not options["no_scheduler"]:
            roles["scheduler"] = worker_role(periodic=True, threads=2)
        if not options["no_edge"]:
            roles["edge"] = edge_role(host=host, port=conf["EDGE_PORT"])
        if not roles:
            raise CommandError("Nothing to run.")
        supervisor = ForkSupervisor(roles, say=lambda line: self.stdout.write(line),
                                    warn=lambda line: self.stderr.write(line))

        def stop(*_: Any) -> None:
            supervisor.stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        supervisor.start_all()
        self.stdout.write(f"tenantry serve: {', '.join(roles)} (pid {os.getpid()})")
        supervisor.run()
        supervisor.stop_all(grace_seconds=30)
