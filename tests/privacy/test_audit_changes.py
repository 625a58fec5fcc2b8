"""Every write names its changed fields: a walk through representative write endpoints (API with
a key, API with a session) checks each leaves one row with actor, team, IP, user agent, action,
target and {field: [old, new]}, found by the one tracking helper (secrets masked, never shown)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from tenantry.accounts.models import ApiKeyBilling, Team, User
from tenantry.accounts.services.api_keys import api_key_create
from tenantry.billing.models import AddOnPurchase, Plan, Subscription
from tenantry.core.audit import MASK, audit_log, changed_fields
from tenantry.core.models import AuditEvent
from tenantry.instances.lifecycle import instance_resize
from tenantry.instances.models import Instance, Status
from tenantry.runtime.placement import default_server
from tenantry.support.services import ticket_open
from tenantry.updates.models import MaintenanceWindow
from tenantry.webhooks.models import WebhookEndpoint
from tests.billing.billing_helpers import make_addon, make_plan, make_team
from tests.billing.entitlement_helpers import subscribe

pytestmark = pytest.mark.django_db

AGENT = "audit-walker/2.0"
IP = "198.51.100.23"


@pytest.fixture(autouse=True)
def _private_webhooks(settings):
    settings.TENANTRY_WEBHOOKS = {**settings.TENANTRY_WEBHOOKS, "ALLOW_PRIVATE": True}


def _last(action: str) -> AuditEvent:
    rows = list(AuditEvent.objects.filter(action=action).order_by("-id")[:1])
    assert rows, f"no {action} row"
    return rows[0]


def _check(row: AuditEvent, *, team: Team, actor: str, target: object, changes: dict) -> None:
    assert (row.team_id, row.ip, row.user_agent) == (team.pk, IP, AGENT), row.action
    assert row.actor == actor or row.actor.startswith(actor), (row.action, row.actor)
    assert (row.target_type, row.target_id) == (target._meta.label_lower, str(target.pk)), row.action
    assert row.changes == changes, (row.action, row.changes)


def test_write_endpoints_record_who_where_what_and_the_changed_fields(django_capture_on_commit_callbacks):
    team = make_team("walkco")
    owner = User.objects.get(email="owner@walkco.test")
    starter, pro = make_plan(addons_allowed=True), make_plan("pro", month=9900, addons_allowed=True)
    make_addon()
    key = api_key_create(team=team, name="walker", billing=ApiKeyBilling.MANAGE).plaintext
    api = Client(HTTP_AUTHORIZATION=f"Bearer {key}", HTTP_USER_AGENT=AGENT, REMOTE_ADDR=IP)
    session = Client(HTTP_USER_AGENT=AGENT, REMOTE_ADDR=IP)
    session.force_login(owner)

    def call(client: Client, method: str, path: str, body: dict | None = None, status: int = 200):
        response = getattr(client, method)(f"/api/v1{path}", body or {}, content_type="application/json")
        assert response.status_code == status, (path, response.content)
        return response

    # Team settings: rename (session, owners) and time zone (key).
    call(session, "patch", "/teams/walkco", {"name": "Walk & Co"})
    _check(_last("team.rename"), team=team, actor="user:owner@walkco.test", target=team,
           changes={"name": ["Walkco", "Walk & Co"]})
    call(api, "patch", "/team", {"time_zone": "America/New_York"})
    _check(_last("team.time_zone"), team=team, actor="api-key:", target=team,
           changes={"time_zone": [team.time_zone, "America/New_York"]})

    # The maintenance window: created, then changed (only what changed is named).
    call(api, "put", "/maintenance-window", {"start_time": "02:00", "duration_minutes": 60})
    call(api, "put", "/maintenance-window", {"start_time": "03:30", "duration_minutes": 60, "weekdays": [5, 6]})
    _check(_last("team.maintenance_window.set"), team=team, actor="api-key:",
           target=MaintenanceWindow.objects.get(team=team),
           changes={"start_time": ["02:00:00", "03:30:00"], "weekdays": [[], [5, 6]]})

    # A webhook endpoint: changed, then its secret rotated (the row says so, never shows it).
    created = call(api, "post", "/webhooks/endpoints", {"url": "http://127.0.0.1:9/a", "event_types": ["*"]},
                   status=201).json()
    endpoint = WebhookEndpoint.objects.get(pk=created["endpoint"]["id"])
    call(api, "patch", f"/webhooks/endpoints/{endpoint.pk}", {"url": "http://127.0.0.1:9/b", "enabled": False})
    row = _last("webhook_endpoint.update")
    _check(row, team=team, actor="api-key:", target=endpoint, changes={
        "url": ["http://127.0.0.1:9/a", "http://127.0.0.1:9/b"], "enabled": [True, False],
        "disabled_reason": ["", "Disabled by the team."], "disabled_at": [None, row.changes["disabled_at"][1]]})
    assert row.changes["disabled_at"][1]
    secret = call(api, "post", f"/webhooks/endpoints/{endpoint.pk}/rotate-secret").json()["secret"]
    row = _last("webhook_endpoint.rotate_secret")
    _check(row, team=team, actor="api-key:", target=endpoint, changes={"secret_ciphertext": [MASK, MASK]})
    assert secret not in str(AuditEvent.objects.values_list("changes", "data"))
    assert created["secret"] not in str(AuditEvent.objects.values_list("changes", "data"))

    # Billing: subscribe, upgrade (the plan changes), buy an add-on then stop renewing it.
    with django_capture_on_commit_callbacks(execute=True):
        call(session, "post", "/billing/walkco/subscription", {"plan": "starter", "interval": "month"}, status=201)
        call(session, "post", "/billing/walkco/subscription/change", {"plan": "pro"})
    _check(_last("subscription.upgrade"), team=team, actor="user:owner@walkco.test",
           target=Subscription.objects.get(team=team), changes={"plan_id": [str(starter.pk), str(pro.pk)]})
    with django_capture_on_commit_callbacks(execute=True):
        bought = call(session, "post", "/billing/walkco/addons", {"addon": "ram-500"}, status=201).json()
        call(session, "post", f"/billing/walkco/addons/{bought['id']}/cancel", {})
    _check(_last("addon.cancel"), team=team, actor="user:owner@walkco.test",
           target=AddOnPurchase.objects.get(pk=bought["id"]), changes={"auto_renew": [True, False]})

    # A ticket staff take (operator console), then the customer resolves (API).
    ticket = ticket_open(team=team, user=owner, actor="user:owner@walkco.test", subject="Slow", body="Help")
    staff = User.objects.create_user(email="agent@tenantry.test", password="s" * 16, is_staff=True)
    console = Client(HTTP_USER_AGENT=AGENT, REMOTE_ADDR=IP)
    console.force_login(staff)
    taken = console.post(reverse("support:operator_ticket_action", args=[ticket.pk, "assign"]),
                         {"assignee": staff.email})
    assert taken.status_code == 302, taken.content
    row = _last("ticket.assign")
    assert row.changes["assignee_id"] == [None, staff.pk] and row.changes["status"] == ["open", "in_progress"]
    _check(row, team=team, actor="user:agent@tenantry.test", target=ticket, changes=row.changes)
    call(api, "post", f"/tickets/{ticket.pk}/status", {"status": "resolved"})
    row = _last("ticket.status")
    assert row.changes["status"] == ["in_progress", "resolved"] and "resolved_at" in row.changes
    assert "assignee_id" not in row.changes  # each row starts from the previous one
    _check(row, team=team, actor="api-key:", target=ticket, changes=row.changes)


def test_a_resize_names_the_limits_that_changed(docker_client):
    team = make_team("resizeco")
    subscribe(team, memory_mb=512, cpus=Decimal("1"))
    instance = Instance.objects.create(team=team, slug="resizeco-one", app="hello", server=default_server(),
                                       memory_mb=128, cpus=Decimal("0.25"), pids=64, status=Status.STOPPED)
    instance = Instance.objects.get(pk=instance.pk)
    instance_resize(instance=instance, memory_mb=256, cpus=Decimal("0.5"), actor="test")
    row = _last("instance.resize_recorded")
    assert row.changes == {"memory_mb": [128, 256], "cpus": ["0.250", "0.500"]}, row.changes
    assert row.team_id == team.pk and row.ip is None  # no request: a worker or the CLI


def test_the_helper_diffs_loaded_values_masks_secrets_and_restarts_after_each_row():
    plan = make_plan("tracked")
    plan = Plan.objects.get(pk=plan.pk)
    assert changed_fields(plan) == {}
    plan.name, plan.memory_mb = "Renamed", 999
    plan.save()
    assert changed_fields(plan) == {"name": ["Tracked", "Renamed"], "memory_mb": [256, 999]}
    audit_log(actor="test", action="plan.edit", target=plan)
    assert AuditEvent.objects.get(action="plan.edit").changes == {"name": ["Tracked", "Renamed"],
                                                                    "memory_mb": [256, 999]}
    assert changed_fields(plan) == {}  # the next row diffs from the last one
    plan.allowed_apps.append("n8n")  # a JSON field changed in place still shows
    assert changed_fields(plan) == {"allowed_apps": [[], ["n8n"]]}
    user = User.objects.get(pk=User.objects.create_user(email="t@example.com", password="a" * 16).pk)
    user.set_password("b" * 16)
    assert changed_fields(user) == {"password": [MASK, MASK]}
    deferred = Team.objects.only("id", "name").get(pk=make_team("deferred").pk)
    deferred.name = "Other"
    assert changed_fields(deferred) == {"name": ["Deferred", "Other"]}  # deferred fields not fetched
