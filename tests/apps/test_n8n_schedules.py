"""A hibernated n8n does not miss its scheduled run: Tenantry reads the Schedule Trigger (in the
team's time zone, which n8n runs in), wakes the instance ahead of the run, the run happens and is
metered, and the instance hibernates again once idle. Real n8n, real proxy, real Docker."""

from __future__ import annotations

import time
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from tenantry.accounts.models import Team
from tenantry.automations.models import ExecutionRecord
from tenantry.automations.scheduling import schedules_sync, wake_for_schedules
from tenantry.automations.services import executions_sync
from tenantry.instances.hibernation import hibernate_idle_instances
from tenantry.instances.models import Status
from tenantry.instances.secrets import instance_outputs, instance_secret_values
from tenantry.metering.collectors.executions import collect_executions
from tenantry.metering.meters import EXECUTIONS
from tenantry.metering.models import UsageEvent
from tests.apps.test_n8n import n8n_key, provisioned
from tests.billing.entitlement_helpers import subscribe
from tests.conftest import wait_for
from tests.instances.helpers import fresh, last_operation

pytestmark = [pytest.mark.docker, pytest.mark.traefik, pytest.mark.n8n, pytest.mark.slow]

ZONE = "Asia/Kolkata"  # UTC+05:30: a schedule read in UTC would be off by hours and half an hour
LEAD = 240  # generous: n8n may need minutes to start on a loaded test machine
IDLE = 60


def _scheduled_workflow(hour: int, minute: int) -> dict:
    trigger = {"parameters": {"rule": {"interval": [{"field": "days", "triggerAtHour": hour,
                                                     "triggerAtMinute": minute}]}},
               "name": "Every day", "type": "n8n-nodes-base.scheduleTrigger", "typeVersion": 1.2,
               "position": [0, 0]}
    done = {"parameters": {}, "name": "Done", "type": "n8n-nodes-base.noOp", "typeVersion": 1, "position": [220, 0]}
    return {"name": "Nightly report", "nodes": [trigger, done],
            "connections": {"Every day": {"main": [[{"node": "Done", "type": "main", "index": 0}]]}},
            "settings": {"executionOrder": "v1"}}


@pytest.mark.timeout(1500)  # the run is minutes ahead, so that the instance can hibernate first
def test_hibernated_n8n_wakes_for_its_scheduled_run_and_hibernates_again(platform, settings):
    settings.TENANTRY = {**settings.TENANTRY, "SCHEDULE_WAKE_LEAD_SECONDS": LEAD, "HEALTH_TIMEOUT_SECONDS": 300}
    team = Team.objects.create(name="Night shift", slug="night-shift", time_zone=ZONE)
    subscribe(team)
    instance = provisioned("cron-flows", team=team, hibernate_after_seconds=IDLE)
    headers = {"X-N8N-API-KEY": n8n_key(instance)}

    # n8n runs in the team's time zone (its signed-in settings say so).
    login = platform.request("POST", instance.host, "/rest/login", json={
        "emailOrLdapLoginId": instance_outputs(instance)["owner"]["email"],
        "password": instance_secret_values(instance)["owner_password"]})
    assert login.status_code == 200, login.text
    assert platform.get(instance.host, "/rest/settings").json()["data"]["timezone"] == ZONE
    platform.session.cookies.clear()

    # A workflow that runs every day at a local time far enough ahead to hibernate first.
    fire = (timezone.now() + timedelta(seconds=LEAD + 100)).replace(second=0, microsecond=0) + timedelta(minutes=1)
    local = fire.astimezone(ZoneInfo(ZONE))
    created = platform.request("POST", instance.host, "/api/v1/workflows", headers=headers,
                               json=_scheduled_workflow(local.hour, local.minute))
    assert created.status_code == 200, created.text
    workflow_id = created.json()["id"]
    activated = platform.request("POST", instance.host, f"/api/v1/workflows/{workflow_id}/activate", headers=headers)
    assert activated.status_code == 200, activated.text

    # Tenantry reads the trigger: its next run is that instant (not the same wall clock in UTC).
    [trigger] = schedules_sync(instance=instance)
    assert trigger.workflow_id == workflow_id and trigger.time_zone == ZONE
    assert trigger.next_fire_at == fire

    # Idle: hibernation reads the schedules again and lets it sleep (the run is beyond the lead)...
    soon = timezone.now()
    assert hibernate_idle_instances(now=fire - timedelta(seconds=LEAD - 10)) == []  # ...but not right before it
    assert hibernate_idle_instances(now=soon + timedelta(seconds=IDLE + 1)) == ["cron-flows"]
    assert fresh(instance).status == Status.HIBERNATED

    # The wake plan runs each minute: nothing until the lead, then the instance wakes before the run.
    assert wake_for_schedules() == []
    time.sleep(max(0.0, (fire - timedelta(seconds=LEAD - 5) - timezone.now()).total_seconds()))
    assert wake_for_schedules() == ["cron-flows"]
    assert fresh(instance).status == Status.RUNNING
    assert last_operation(instance).actor == "schedule"
    awake_at = timezone.now()
    assert awake_at < fire, f"woke at {awake_at}, after the run at {fire}"

    # n8n runs the workflow at its time; the execution is copied and metered.
    def scheduled_runs():
        executions_sync(instance=instance)
        # n8n lists a run it has queued before it starts it (no start time yet): wait for the start.
        return list(ExecutionRecord.objects.filter(instance=instance, workflow_id=workflow_id, mode="trigger",
                                                   started_at__isnull=False))

    wait_time = (fire - timezone.now()).total_seconds() + 90
    [run] = wait_for(scheduled_runs, timeout=wait_time, interval=5, what="the scheduled execution")
    assert fire <= run.started_at < fire + timedelta(minutes=1)

    def finished() -> bool:
        executions_sync(instance=instance)
        return ExecutionRecord.objects.get(pk=run.pk).status == "success"

    wait_for(finished, timeout=30, interval=2, what="the run to finish")
    collect_executions()
    metered = UsageEvent.objects.filter(instance=instance, meter__code=EXECUTIONS, transaction_id=f"exec:{run.pk}")
    assert metered.count() == 1 and metered.get().timestamp == run.started_at

    # Right after the run it stays up; once idle for its timeout after the run, it hibernates again.
    assert hibernate_idle_instances(now=fire + timedelta(seconds=IDLE - 20)) == []
    assert hibernate_idle_instances(now=max(fire, awake_at) + timedelta(seconds=IDLE + 1)) == ["cron-flows"]
    assert fresh(instance).status == Status.HIBERNATED
    # The next run is tomorrow: nothing to wake for now.
    assert wake_for_schedules() == []
