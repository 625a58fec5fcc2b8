"""Events of a real instance's life (hello app, real Docker and Traefik) arrive at a team's
endpoint as signed deliveries, in the order they happened; the customer's notification centre
gets the same stream."""

from __future__ import annotations

import pytest

from tenantry.instances import services
from tenantry.instances.models import Instance
from tenantry.notifications.models import Notification
from tenantry.webhooks.services import endpoint_create
from tests.billing.entitlement_helpers import subscribe
from tests.dashboard.helpers import make_user
from tests.webhooks.helpers import allow_private
from tests.webhooks.receiver import Receiver

pytestmark = [pytest.mark.docker]


def test_lifecycle_events_are_delivered_in_order(platform, settings):
    allow_private(settings)
    owner = make_user("owner@example.com")
    team = owner.memberships.get().team
    subscribe(team)
    receiver = Receiver()
    try:
        _, secret = endpoint_create(team=team, url=receiver.url, event_types=["instance.*", "operation.succeeded"],
                                    actor="test")
        receiver.secret = secret
        instance, _ = services.instance_create(team=team, slug="evented", app="hello", actor="user:owner@example.com")
        instance.refresh_from_db()
        assert instance.status == "running"
        platform.wait_for_body(instance.host, "Hello from evented")
        services.instance_stop(instance=instance, actor="user:owner@example.com")
        services.instance_delete(instance=Instance.objects.get(pk=instance.pk), actor="user:owner@example.com")
        got = receiver.accepted()
        assert all(r.verified for r in receiver.received)
        assert [(r.json["type"], r.json["data"].get("kind")) for r in got] == [
            ("instance.created", None),
            ("operation.succeeded", "provision"), ("instance.ready", None),
            ("operation.succeeded", "stop"), ("instance.stopped", None),
            ("operation.succeeded", "delete"), ("instance.deleted", None)]
        ready = got[2].json
        assert ready["data"]["slug"] == "evented" and ready["data"]["instance_id"] == str(instance.pk)
        assert ready["data"]["status"] == "running" and ready["team"] == str(team.pk)
        assert len({r.headers["webhook-id"] for r in got}) == 7
        titles = list(Notification.objects.filter(user=owner).values_list("event_type", flat=True))
        assert sorted(titles) == ["instance.deleted", "instance.ready"]
    finally:
        receiver.close()
