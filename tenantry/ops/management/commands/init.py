"""`tenantry init [PATH]`: write the production environment file with generated secrets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from tenantry.core.errors import ApplicationError
from tenantry.ops.install import (
    audit_environment,
    default_environment_path,
    describe,
    generate_installation,
    parse_environment_file,
    write_environment_file,
)


class Command(BaseCommand):
    help = ("Write the production environment file (default /etc/tenantry/env as root, else ./tenantry.env) "
            "with generated secrets; an existing file is audited, never overwritten.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("path", nargs="?", help="where to write it")
        parser.add_argument("--base-domain", required=False, help="instances live at <slug>.BASE_DOMAIN")
        parser.add_argument("--dashboard-url", help="the customers' dashboard, e.g. https://cloud.example.com")
        parser.add_argument("--data-dir", default="/var/lib/tenantry")
        parser.add_argument("--database-url", default="", help="postgres://user:password@host/db")
        parser.add_argument("--redis-url", default="", help="redis://127.0.0.1:6379/0")
        parser.add_argument("--admin-email", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["path"]).resolve() if options["path"] else default_environment_path()
        if path.exists():
            self._audit_existing(path)
            return
        if not options["base_domain"]:
            raise CommandError("--base-domain is required for a new installation (e.g. apps.example.com)",
                               returncode=2)
        data_dir = Path(options["data_dir"]).resolve()
        if path == data_dir or data_dir in path.parents:
            raise CommandError(f"{path} is inside the data directory {data_dir}: a copy of the data would carry "
                               "the keys that protect it. Put the environment file elsewhere (/etc/tenantry/env).",
                               returncode=2)
        try:
            installation = generate_installation(
                base_domain=options["base_domain"],
                dashboard_url=options["dashboard_url"] or f"https://cloud.{options['base_domain']}",
                data_dir=str(data_dir), database_url=options["database_url"], redis_url=options["redis_url"],
                admin_email=options["admin_email"])
        except ApplicationError as exc:
            raise CommandError(exc.message, returncode=2) from exc
        write_environment_file(path, installation.values)
        self.stdout.write(self.style.SUCCESS(f"Wrote {path} (mode 0600)."))
        self.stdout.write(f"  admin login     {installation.admin_email}")
        self.stdout.write(f"  admin password  {installation.admin_password}")
        self.stdout.write("  (shown once, only its hash is stored: note it now)")
        self.stdout.write("Next: set -a; . " + str(path) + "; set +a; tenantry migrate; tenantry ensure_admin; "
                          "tenantry doctor")

    def _audit_existing(self, path: Path) -> None:
        if path.stat().st_mode & 0o077:
            raise CommandError(f"{path} is readable by others (mode {oct(path.stat().st_mode & 0o777)}): "
                               f"chmod 600 {path}", returncode=2)
        try:
            values = parse_environment_file(path.read_text())
        except ApplicationError as exc:
            raise CommandError(f"{path}: {exc.message}", returncode=2) from exc
        weak = audit_environment(values)
        if weak:
            raise CommandError(f"{path}: {describe(weak)}. Replace them (or move the file away and run "
                               "tenantry init again to generate new ones).", returncode=2)
        self.stdout.write(f"{path} exists and its secrets pass the audit; nothing written.")


