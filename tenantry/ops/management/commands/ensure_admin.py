"""`tenantry ensure_admin`: create the operator's login that `tenantry init` prepared (idempotent)."""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from tenantry.core.errors import ApplicationError
from tenantry.ops.services import admin_ensure


class Command(BaseCommand):
    help = "Create the admin login from TENANTRY_ADMIN_EMAIL and TENANTRY_ADMIN_PASSWORD_HASH (once)."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            user, created = admin_ensure(email=os.environ.get("TENANTRY_ADMIN_EMAIL", ""),
                                         password_hash=os.environ.get("TENANTRY_ADMIN_PASSWORD_HASH", ""))
        except ApplicationError as exc:
            raise CommandError(exc.message, returncode=2) from exc
        self.stdout.write(f"{'Created' if created else 'Kept'} the admin login {user.email}.")
