"""`tenantry doctor [--json]`: production readiness, each finding with its fix; exit 1 on a failure."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from tenantry.ops.doctor import FAILURE, WARNING, run_doctor

_MARKS = {"ok": "ok  ", "warning": "warn", "failure": "FAIL"}


class Command(BaseCommand):
    help = "Check this installation (Docker, proxy, DNS, ACME, SMTP, S3, bind addresses, keys, debug, versions)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--json", action="store_true", help="one JSON document, for scripts")

    def handle(self, *args: Any, **options: Any) -> None:
        findings = run_doctor()
        failures = [f for f in findings if f.status == FAILURE]
        if options["json"]:
            self.stdout.write(json.dumps({"ok": not failures, "findings": [f.as_dict() for f in findings]},
                                         indent=2))
        else:
            for finding in findings:
                style = {FAILURE: self.style.ERROR, WARNING: self.style.WARNING}.get(finding.status, str)
                self.stdout.write(style(f"[{_MARKS[finding.status]}] {finding.check}: {finding.message}"))
                if finding.fix and finding.status != "ok":
                    self.stdout.write(f"       fix: {finding.fix}")
            warnings = sum(1 for f in findings if f.status == WARNING)
            self.stdout.write(f"{len(failures)} failure(s), {warnings} warning(s).")
        if failures:
            raise CommandError(f"{len(failures)} check(s) failed", returncode=1)
