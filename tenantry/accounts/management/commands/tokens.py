"""`tenantry tokens …`: API tokens (shown once, stored hashed)."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from tenantry.accounts.models import ApiToken
from tenantry.accounts.services import api_token_create, api_token_revoke
from tenantry.core.errors import ApplicationError


class Command(BaseCommand):
    help = "Create, list and revoke API tokens."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create")
        create.add_argument("name")
        create.add_argument("--quiet", action="store_true", help="print only the token")
        sub.add_parser("list")
        revoke = sub.add_parser("revoke")
        revoke.add_argument("prefix")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["action"] == "create":
                issued = api_token_create(name=options["name"])
                if options["quiet"]:
                    self.stdout.write(issued.plaintext)
                else:
                    self.stdout.write(f"Token {issued.token.name!r} (shown once, keep it safe):\n{issued.plaintext}")
            elif options["action"] == "list":
                for token in ApiToken.objects.all():
                    state = "revoked" if token.revoked_at else "active"
                    self.stdout.write(f"{token.prefix}  {token.name:<24} {state:<8} last used: {token.last_used_at}")
            else:
                api_token_revoke(prefix=options["prefix"])
                self.stdout.write("Revoked.")
        except ApplicationError as exc:
            raise CommandError(exc.message, returncode=2) from exc
