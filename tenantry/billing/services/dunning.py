"""Dunning's verdicts: a payment failed (past due, the customer is told), an invoice is paid (the
service starts or resumes). The timeline that follows a failure (retries, suspension, archive,
deletion) is run by dunning_timeline.py. Every transition is audited and the clock is
`timezone.now()` (tests freeze it)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from tenantry.accounts.models import Team
from tenantry.billing.conf import billing_setting
from tenantry.billing.events import emit_invoice_paid
from tenantry.billing.models import (
    AccountState,
    BillingAccount,
    Invoice,
    InvoiceStatus,
    Payment,
    Subscription,
    SubscriptionStatus,
)
from tenantry.billing.services.accounts import BillingError, billing_account_for, billing_recipients
from tenantry.core.audit import audit_log
from tenantry.core.errors import ApplicationError
from tenantry.core.logging import get_logger
from tenantry.instances.models import Instance

log = get_logger(__name__)
DUNNING_ACTOR = "billing:dunning"


def set_account_state(account: BillingAccount, state: str, actor: str, now: datetime, **data: object) -> None:
    previous = account.state
    account.state, account.state_changed_at = state, now
    account.save(update_fields=["state", "state_changed_at", "dunning_started_at", "dunning_retries",
                                "next_retry_at", "updated_at"])
    audit_log(actor=actor, action=f"billing_account.{state}", target=account, data={"from": previous, **data})


def notify_account(account: BillingAccount, template: str, invoice: Invoice | None, **extra: object) -> None:
    from tenantry.billing.tasks import billing_email_task

    recipients = billing_recipients(account)
    invoice_id = str(invoice.pk) if invoice else None
    transaction.on_commit(lambda: billing_email_task(recipients, template, str(account.pk), invoice_id, dict(extra)))


@transaction.atomic
def invoice_mark_paid(*, invoice: Invoice, payment: Payment | None, actor: str) -> Invoice:
    """Settle an invoice (idempotent). Starts the service of a subscription waiting for its first
    payment, reactivates a past-due subscription and resumes a suspended team once nothing is owed."""
    from tenantry.billing.services.subscriptions import subscription_start_service

    invoice = (Invoice.objects.select_for_update(of=("self",)).select_related("account", "subscription")
        .get(pk=invoice.pk))
    if invoice.status == InvoiceStatus.PAID:
        return invoice
    if invoice.status != InvoiceStatus.FINALIZED:
        raise BillingError(f"Invoice {invoice} is {invoice.status}: it cannot be paid.", code="invoice_not_payable")
    if payment is not None and (payment.currency != invoice.currency or payment.amount_minor < invoice.total_minor):
        raise BillingError("The payment does not cover this invoice.", code="payment_mismatch",
                           details={"due_minor": invoice.total_minor, "currency": invoice.currency})
    now = timezone.now()
    invoice.status, invoice.paid_at = InvoiceStatus.PAID, now
    invoice.save(update_fields=["status", "paid_at", "updated_at"])
    audit_log(actor=actor, action="invoice.paid", target=invoice,
              data={"payment": str(payment.pk) if payment else None, "total_minor": invoice.total_minor})
    emit_invoice_paid(invoice)
    subscription = invoice.subscription
    if subscription is not None:
        subscription = Subscription.objects.select_for_update().get(pk=subscription.pk)
        if subscription.status in (SubscriptionStatus.INCOMPLETE, SubscriptionStatus.PAST_DUE):
            previous = subscription.status
            subscription.status = SubscriptionStatus.ACTIVE
            subscription.save(update_fields=["status", "updated_at"])
            audit_log(actor=actor, action="subscription.active", target=subscription, data={"from": previous})
        if subscription.status == SubscriptionStatus.ACTIVE:
            subscription_start_service(subscription=subscription, actor=actor)
    _recover_if_settled(invoice.account, actor, now)
    return invoice


def _recover_if_settled(account: BillingAccount, actor: str, now: datetime, *, check_invoices: bool = True) -> None:
    from tenantry.instances.lifecycle import instance_resume

    account = BillingAccount.objects.select_for_update().get(pk=account.pk)
    if account.state == AccountState.ACTIVE:
        return
    if check_invoices and Invoice.objects.filter(account=account, status=InvoiceStatus.FINALIZED).exists():
        return  # something else is still owed
    if account.state in (AccountState.ARCHIVED, AccountState.DELETED):
        audit_log(actor=actor, action="billing_account.paid_after_archive", target=account)
        return  # an archived team is restored by an operator from its final backup
    was = account.state
    account.dunning_started_at, account.dunning_retries, account.next_retry_at = None, 0, None
    set_account_state(account, AccountState.ACTIVE, actor, now, reason="paid")
    Subscription.objects.filter(account=account, status=SubscriptionStatus.PAST_DUE).update(
        status=SubscriptionStatus.ACTIVE, updated_at=now)
    if was == AccountState.SUSPENDED:
        for instance in Instance.objects.filter(team_id=account.team_id, desired_state="suspended"):
            try:
                instance_resume(instance=instance, actor=actor)
            except ApplicationError as exc:
                audit_log(actor=actor, action="instance.resume_deferred", target=instance, data={"error": exc.code})


@transaction.atomic
def invoice_payment_failed(*, invoice: Invoice, payment: Payment | None, actor: str) -> None:
    """A payment of the invoice failed: email the customer and start (or continue) dunning."""
    invoice = (Invoice.objects.select_for_update(of=("self",)).select_related("account")
        .get(pk=invoice.pk))
    if invoice.status != InvoiceStatus.FINALIZED:
        return  # paid or voided meanwhile: nothing to chase
    invoice.payment_failures += 1
    invoice.save(update_fields=["payment_failures", "updated_at"])
    account = BillingAccount.objects.select_for_update().get(pk=invoice.account_id)
    audit_log(actor=actor, action="invoice.payment_failed", target=invoice,
              data={"payment": str(payment.pk) if payment else None, "failures": invoice.payment_failures,
                    "message": payment.failure_message[:200] if payment else ""})
    _start_dunning(account, actor, invoice)


def _start_dunning(account: BillingAccount, actor: str, invoice: Invoice | None) -> None:
    now = timezone.now()
    if account.dunning_started_at is None:
        account.dunning_started_at, account.dunning_retries = now, 0
        account.next_retry_at = now + timedelta(days=billing_setting("RETRY_DAYS")[0]) \
            if billing_setting("RETRY_DAYS") else None
        if account.state == AccountState.ACTIVE:
            set_account_state(account, AccountState.PAST_DUE, actor, now,
                       invoice=invoice.display_number if invoice else None)
        else:
            account.save(update_fields=["dunning_started_at", "dunning_retries", "next_retry_at", "updated_at"])
        Subscription.objects.filter(account=account, status=SubscriptionStatus.ACTIVE).update(
            status=SubscriptionStatus.PAST_DUE, updated_at=now)
    notify_account(account, "billing_payment_failed", invoice)


@transaction.atomic
def engine_payment_succeeded(*, team: Team, actor: str, reference: str = "") -> None:
    """An external billing engine (Lago) says the customer is settled: end dunning, resume (idempotent)."""
    account = billing_account_for(team)
    audit_log(actor=actor, action="billing_account.engine_paid", target=account, data={"reference": reference})
    Subscription.objects.filter(account=account, status=SubscriptionStatus.INCOMPLETE).update(
        status=SubscriptionStatus.ACTIVE, updated_at=timezone.now())
    _recover_if_settled(account, actor, timezone.now(), check_invoices=False)


@transaction.atomic
def engine_payment_failed(*, team: Team, actor: str, reason: str = "") -> None:
    """An external billing engine (Lago) reports a failed payment: start or continue dunning."""
    account = BillingAccount.objects.select_for_update().get(pk=billing_account_for(team).pk)
    audit_log(actor=actor, action="billing_account.engine_payment_failed", target=account, data={"reason": reason})
    _start_dunning(account, actor, None)
