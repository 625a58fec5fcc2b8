"""Dunning with real instances through a real worker process (issue 9, item 13): the archive stage
no longer crashes the run (the termination already queued the ARCHIVE; asking again is
harmless), one account's trouble never stops the others, and a suspension asked while an
instance was busy is applied once it is free, until the instance really is suspended.

Real Docker, a real Traefik, the real queue and a `tenantry worker` process; billing states are
placed on the timeline directly (the clock is not frozen: the worker has its own)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from tenantry.accounts.models import Team
from tenantry.billing.models import AccountState, BillingAccount, Invoice, Subscription, SubscriptionStatus
from tenantry.billing.services import dunning_advance, invoice_mark_paid, subscription_checkout
from tenantry.core.models import AuditEvent
from tenantry.instances.deployment import build_deployment
from tenantry.instances.models import ACTIVE_OPERATION_STATUSES, Instance, OperationKind, Status
from tenantry.instances.services import instance_restart
from tenantry.runtime.registry import runtime_for
from tests.billing.billing_helpers import make_plan, make_team
from tests.conftest import installation_resources, start_worker, wait_for

pytestmark = [pytest.mark.docker, pytest.mark.traefik, pytest.mark.slow]


def _paying_team(slug: str, app: str) -> tuple[Team, Subscription]:
    team = make_team(slug)
    plan = make_plan(f"plan-{slug}", allowed_apps=["hello", "slowhello"], memory_mb=128, cpus="0.25")
    subscription = subscription_checkout(team=team, plan=plan, interval="month", actor="user:o", app=app,
                                         instance_slug=slug)
    invoice_mark_paid(invoice=Invoice.objects.get(subscription=subscription), payment=None, actor="test")
    return team, subscription


def _instance(team: Team) -> Instance:
    return Instance.objects.get(team=team)


def _idle(instance: Instance) -> bool:
    return not instance.operations.filter(status__in=ACTIVE_OPERATION_STATUSES).exists()


def _place(team: Team, state: str, *, days_in_state: int, days_in_dunning: int) -> None:
    now = timezone.now()
    BillingAccount.objects.filter(team=team).update(
        state=state, state_changed_at=now - timedelta(days=days_in_state),
        dunning_started_at=now - timedelta(days=days_in_dunning), next_retry_at=None)
    Subscription.objects.filter(team=team).update(status=SubscriptionStatus.PAST_DUE)


def test_dunning_archives_suspends_and_retries_a_deferred_suspension(platform, docker_client, queued,
                                                                     output_dir: Path):
    worker = start_worker(output_dir / "dunning-worker.log")
    try:
        # "aaa" sorts first: on the old code its archive stage raised and nobody else was processed.
        archived_team, _ = _paying_team("aaa-dunning", "hello")
        suspended_team, _ = _paying_team("bbb-dunning", "hello")
        busy_team, _ = _paying_team("ccc-dunning", "slowhello")
        teams = (archived_team, suspended_team, busy_team)
        wait_for(lambda: all(_instance(t).status == Status.RUNNING for t in teams), timeout=90,
                 what="the worker to provision the three instances")
        assert platform.wait_for_body(_instance(suspended_team).host, "Hello from bbb-dunning")

        # aaa: suspended 31 days ago (its instance's suspension never happened): archive is due.
        _place(archived_team, AccountState.SUSPENDED, days_in_state=31, days_in_dunning=38)
        # bbb and ccc: past due for 8 days: suspension is due; ccc's instance is busy restarting.
        _place(suspended_team, AccountState.PAST_DUE, days_in_state=8, days_in_dunning=8)
        _place(busy_team, AccountState.PAST_DUE, days_in_state=8, days_in_dunning=8)
        restart = instance_restart(instance=_instance(busy_team), actor="user:o")

        counts = dunning_advance()
        assert {k: counts[k] for k in ("archived", "suspended", "errors")} == {"archived": 1, "suspended": 2,
                                                                              "errors": 0}
        busy = _instance(busy_team)
        assert busy.desired_state == "suspended"
        assert AuditEvent.objects.filter(target_id=str(busy.pk), action="instance.suspend_deferred").exists()
        assert not busy.operations.filter(kind=OperationKind.SUSPEND).exists()

        # The worker archives aaa (final backup, containers and network gone, volume kept) ...
        wait_for(lambda: _instance(archived_team).status == Status.ARCHIVED, timeout=60, what="aaa archived")
        archived = _instance(archived_team)
        assert archived.operations.filter(kind=OperationKind.ARCHIVE).count() == 1  # asked twice, queued once
        left = installation_resources(docker_client, str(archived.pk))
        assert left and all(r.startswith("volume:") for r in left), left
        # ... and suspends bbb: its container really stopped, its address shows the suspended page.
        wait_for(lambda: _instance(suspended_team).status == Status.SUSPENDED, timeout=60, what="bbb suspended")
        bbb = _instance(suspended_team)
        assert not runtime_for(bbb.server).state(build_deployment(bbb)).any_running
        page = platform.wait_until(bbb.host, lambda r: r.headers.get("X-Tenantry-State") == "suspended")
        assert page.status_code == 503

        # ccc's restart ends; the next pass (or the reconciler, from the desired state) suspends it.
        wait_for(lambda: _idle(_instance(busy_team)), timeout=60, what="ccc's restart to end")
        restart.refresh_from_db()
        assert restart.status == "succeeded"
        assert dunning_advance()["errors"] == 0
        wait_for(lambda: _instance(busy_team).status == Status.SUSPENDED, timeout=60, what="ccc suspended")
        ccc = _instance(busy_team)
        assert not runtime_for(ccc.server).state(build_deployment(ccc)).any_running
        assert ccc.operations.filter(kind=OperationKind.SUSPEND, status="succeeded").count() == 1
        # Later passes change nothing more.
        again = dunning_advance()
        assert {k: again[k] for k in ("archived", "suspended", "errors")} == {"archived": 0, "suspended": 0,
                                                                            "errors": 0}
        assert ccc.operations.filter(kind=OperationKind.SUSPEND).count() == 1
    finally:
        import os
        import signal

        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
