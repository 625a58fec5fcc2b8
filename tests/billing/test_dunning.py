"""Dunning on real Docker and a real Traefik with a frozen clock: fail -> retries -> suspend (the
container really stops, the page says suspended) -> pay -> resume; terminate -> archive (final backup)."""

from __future__ import annotations

import io
import tarfile
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from tenantry.backups.archive import read_object
from tenantry.backups.models import Backup, BackupKind, BackupStatus
from tenantry.backups.schedule import backups_prune
from tenantry.billing.models import AccountState, BillingAccount, Invoice, InvoiceStatus, SubscriptionStatus
from tenantry.billing.services import (
    billing_run,
    dunning_advance,
    invoice_mark_paid,
    invoice_payment_failed,
    subscription_checkout,
    subscription_terminate,
)
from tenantry.core.models import AuditEvent
from tenantry.instances.deployment import build_deployment
from tenantry.instances.models import Instance, Status
from tenantry.runtime.registry import runtime_for
from tests.billing.billing_helpers import make_plan, make_team
from tests.conftest import installation_resources

pytestmark = [pytest.mark.docker, pytest.mark.traefik]


def _subscribe(slug: str):
    team = make_team(slug)
    plan = make_plan(allowed_apps=["hello"], memory_mb=128, cpus="0.25")
    subscription = subscription_checkout(team=team, plan=plan, interval="month", actor="user:o", app="hello",
                                         instance_slug=slug)
    assert not Instance.objects.filter(team=team).exists()  # provisioning waits for the first payment
    invoice_mark_paid(invoice=Invoice.objects.get(subscription=subscription), payment=None, actor="test")
    instance = Instance.objects.get(team=team)
    assert instance.status == Status.RUNNING and instance.memory_mb == 128
    subscription.refresh_from_db()
    return team, subscription, instance


def test_failed_payment_retries_suspends_then_paying_resumes(platform, settings, mailoutbox):
    settings.TENANTRY_BILLING = {"RETRY_DAYS": [1, 3, 5], "SUSPEND_AFTER_DAYS": 7, "ARCHIVE_AFTER_DAYS": 30}
    team, subscription, instance = _subscribe("dunning1")
    assert platform.wait_for_body(instance.host, "Hello from dunning1")
    runtime = runtime_for(instance.server)
    deployment = build_deployment(instance)

    renewal_at = subscription.current_period_end
    with time_machine.travel(renewal_at, tick=True):
        assert billing_run().invoices == 1
        invoice = Invoice.objects.get(subscription=subscription, reason="renewal")
        invoice_payment_failed(invoice=invoice, payment=None, actor="provider:test")
    account = BillingAccount.objects.get(team=team)
    assert account.state == AccountState.PAST_DUE
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.PAST_DUE
    assert any("payment failed" in m.subject.lower() for m in mailoutbox)

    retries = []
    for day in (1, 3, 5):
        with time_machine.travel(renewal_at + timedelta(days=day, minutes=1), tick=True):
            retries.append(dunning_advance()["reminded"])
    assert retries == [1, 1, 1]  # nothing to charge without the customer: reminders
    account.refresh_from_db()
    assert account.dunning_retries == 3 and account.state == AccountState.PAST_DUE
    assert runtime.state(deployment).all_running  # still serving during the grace period

    with time_machine.travel(renewal_at + timedelta(days=7, minutes=1), tick=True):
        assert dunning_advance()["suspended"] == 1
    account.refresh_from_db()
    instance.refresh_from_db()
    assert account.state == AccountState.SUSPENDED
    assert instance.status == Status.SUSPENDED
    assert not runtime.state(deployment).any_running  # the container really stopped
    page = platform.wait_until(instance.host, lambda r: r.headers.get("X-Tenantry-State") == "suspended")
    assert page.status_code == 503 and "suspended" in page.text

    with time_machine.travel(renewal_at + timedelta(days=8), tick=True):
        invoice_mark_paid(invoice=invoice, payment=None, actor="provider:test")
    instance.refresh_from_db()
    account.refresh_from_db()
    assert instance.status == Status.RUNNING
    assert account.state == AccountState.ACTIVE and account.dunning_retries == 0
    assert platform.wait_for_body(instance.host, "Hello from dunning1")  # answers again
    actions = list(AuditEvent.objects.filter(target_id__in=[str(account.pk), str(instance.pk)])
                   .order_by("created_at", "id").values_list("action", flat=True))
    for expected in ("billing_account.past_due", "billing_account.retry", "billing_account.suspended",
                     "instance.suspend", "billing_account.active", "instance.resume"):
        assert expected in actions, (expected, actions)
    assert actions.index("billing_account.suspended") < actions.index("billing_account.active")
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PAID


def test_terminate_archives_with_a_final_backup_and_keeps_the_volume(platform, docker_client):
    _, subscription, instance = _subscribe("archive1")
    runtime = runtime_for(instance.server)
    deployment = build_deployment(instance)
    assert runtime.exec(deployment, "web", ["sh", "-c", "echo keep-me-7 > /data/note.txt"]).exit_code == 0

    subscription_terminate(subscription=subscription, actor="operator:test", reason="contract ended")
    instance.refresh_from_db()
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.TERMINATED
    assert instance.status == Status.ARCHIVED, instance.status_message
    left = installation_resources(docker_client, str(instance.pk))
    assert not [r for r in left if r.startswith(("container:", "network:"))]
    assert [r for r in left if r.startswith("volume:")]  # data kept for the retention period
    # The final backup is a backup (tenantry.backups): sealed at the target, restorable.
    final = Backup.objects.get(instance=instance, kind=BackupKind.FINAL)
    assert final.status == BackupStatus.SUCCEEDED
    assert final.operation_id == instance.operations.get(kind="archive").pk
    [entry] = final.manifest["volumes"]
    with tarfile.open(fileobj=io.BytesIO(b"".join(read_object(final, entry)))) as volume:
        note = volume.extractfile("volume/note.txt")  # the helper mounts it at /volume
        assert note is not None and note.read().strip() == b"keep-me-7"
    page = platform.wait_until(instance.host, lambda r: r.status_code >= 400)
    assert "Hello from archive1" not in page.text

    # After the retention period the dunning task deletes the volumes and the final backup.
    account = BillingAccount.objects.get(team=instance.team)
    BillingAccount.objects.filter(pk=account.pk).update(state=AccountState.ARCHIVED,
                                                        state_changed_at=timezone.now() - timedelta(days=91))
    assert dunning_advance()["deleted"] == 1
    instance.refresh_from_db()
    assert instance.status == Status.DELETED
    assert installation_resources(docker_client, str(instance.pk)) == []
    # Deleting the archived instance kept the final backup it had (none taken of empty volumes);
    # the retention removes it once the instance is gone and BACKUP_FINAL_KEEP_DAYS have passed.
    assert list(Backup.objects.filter(instance=instance).values_list("pk", flat=True)) == [final.pk]
    assert backups_prune(now=timezone.now() + timedelta(days=29))["pruned"] == 0
    assert backups_prune(now=timezone.now() + timedelta(days=31))["pruned"] == 1
    assert not Backup.objects.filter(pk=final.pk).exists()


def test_reconciler_keeps_a_suspended_instance_suspended(platform, docker_client):
    from tenantry.instances.lifecycle import instance_resume, instance_suspend
    from tenantry.instances.reconciler import reconcile

    _, _, instance = _subscribe("drift1")
    instance_suspend(instance=instance, actor="test", reason="unpaid")
    deployment = build_deployment(instance)
    docker_client.containers.get(deployment.container("web").name).start()  # started by hand
    assert reconcile().stopped == ["drift1"]
    instance.refresh_from_db()
    assert (instance.status, instance.desired_state) == (Status.SUSPENDED, "suspended")
    assert not runtime_for(instance.server).state(deployment).any_running
    instance_resume(instance=instance, actor="test")
    instance.refresh_from_db()
    assert instance.status == Status.RUNNING
    assert platform.wait_for_body(instance.host, "Hello from drift1")


def test_reconciler_applies_a_suspension_deferred_while_the_instance_was_busy(platform):
    """Issue 9, item 13: suspension follows the desired state. Asked while another operation ran,
    it is recorded (deferred); once the instance is free the reconciler suspends it for real."""
    from tenantry.instances.lifecycle import instance_suspend
    from tenantry.instances.models import Operation, OperationKind
    from tenantry.instances.reconciler import reconcile

    _, _, instance = _subscribe("deferred1")
    busy = Operation.objects.create(instance=instance, kind=OperationKind.RECONFIGURE, status="running", actor="test")
    assert instance_suspend(instance=instance, actor="billing:dunning", reason="unpaid") is None
    instance.refresh_from_db()
    assert (instance.status, instance.desired_state) == (Status.RUNNING, "suspended")
    assert AuditEvent.objects.filter(target_id=str(instance.pk), action="instance.suspend_deferred").count() == 1
    # Asking again while busy changes nothing more; the busy operation ends.
    assert instance_suspend(instance=instance, actor="billing:dunning") is None
    Operation.objects.filter(pk=busy.pk).update(status="succeeded")

    report = reconcile()
    assert "deferred1" in report.healed
    instance.refresh_from_db()
    assert instance.status == Status.SUSPENDED, instance.status_message
    deployment = build_deployment(instance)
    assert not runtime_for(instance.server).state(deployment).any_running
    page = platform.wait_until(instance.host, lambda r: r.headers.get("X-Tenantry-State") == "suspended")
    assert page.status_code == 503
    assert instance.operations.filter(kind=OperationKind.SUSPEND).count() == 1
    assert reconcile().healed == []  # suspended: nothing more to do
