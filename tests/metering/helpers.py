from __future__ import annotations

from decimal import Decimal

from django.test import Client

from tenantry.accounts.models import Team
from tenantry.accounts.services.api_keys import api_key_create
from tenantry.instances.models import Instance, Status
from tenantry.runtime.placement import default_server


def instance_row(team: Team, slug: str, *, app: str = "hello", status: str = Status.RUNNING) -> Instance:
    """An instance row as provisioning leaves it (no containers needed to meter it)."""
    return Instance.objects.create(team=team, slug=slug, app=app, server=default_server(), memory_mb=64,
                                   cpus=Decimal("0.25"), pids=64, status=status)


def api_client(team: Team, scope: str = "write") -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {api_key_create(team=team, name='k', scope=scope).plaintext}")


def post_events(client: Client, events):
    return client.post("/api/v1/usage/events", data={"events": events}, content_type="application/json")
