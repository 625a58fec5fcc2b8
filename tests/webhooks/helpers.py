from __future__ import annotations

from django.test import Client

from tenantry.accounts.models import Team
from tenantry.accounts.services.api_keys import api_key_create


def api_client(team: Team, *, read_only: bool = False) -> Client:
    issued = api_key_create(team=team, name="webhooks-tests", scope="read" if read_only else "write")
    return Client(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")


def post(client: Client, path: str, data: object = None) -> object:
    return client.post(f"/api/v1{path}", data=data or {}, content_type="application/json")


def allow_private(settings, allowed: bool = True) -> None:
    settings.TENANTRY_WEBHOOKS = {**settings.TENANTRY_WEBHOOKS, "ALLOW_PRIVATE": allowed}
