"""`tenantry tokens …`: a team's API keys from the shell (shown once, stored hashed)."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from tenantry.accounts.models import ApiKey, ApiKeyScope
from tenantry.accounts.services.api_keys import api_key_create, api_key_revoke
from tenantry.accounts.services.teams import operator_team, team_by_slug
from tenantry.core.errors import ApplicationError


class Command(BaseCommand):
    help = "Create, list and revoke a team's API keys."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create")
        create.add_argument("name")
        create.add_argument("--team", help="team slug (default: the 'operators' team)")
        create.add_argument("--read-only", action="store_true", help="the key may only read")
        create.add_argument("--quiet", action="store_true", help="print only the key")
        listing = sub.add_parser("list")
        listing.add_argument("--team")
        revoke = sub.add_parser("revoke")
        revoke.add_argument("prefix")
        revoke.add_argument("--team")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            team = team_by_slug(options["team"]) if options.get("team") else operator_team()
            if options["action"] == "create":
                scope = ApiKeyScope.READ if options["read_only"] else ApiKeyScope.WRITE
                issued = api_key_create(team=team, name=options["name"], scope=scope)
                if options["quiet"]:
                    self.stdout.write(issued.plaintext)
                else:
                    self.stdout.write(f"Key {issued.key.name!r} for team {team.slug} ({scope}); shown once:\n"
                                      f"{issued.plaintext}")
            elif options["action"] == "list":
                for key in ApiKey.objects.filter(team=team):
                    state = "revoked" if key.revoked_at else "active"
                    self.stdout.write(f"{key.prefix}  {key.name:<24} {key.scope:<6} {state:<8} "
                                      f"last used: {key.last_used_at or 'never'}")
            else:
                api_key_revoke(team=team, prefix=options["prefix"])
                self.stdout.write("Revoked.")
        except ApplicationError as exc:
            raise CommandError(exc.message, returncode=2) from exc
