"""The dunning timeline (every 15 minutes, `tenantry billing dunning`): past due -> retries on
schedule (a real charge where one can be made without the customer) -> suspended after a grace
-> archived -> deleted.

Each account is advanced on its own, in its own transactions: whatever goes wrong with one
(an instance busy, a provider down, a bug) is recorded (audit `billing_account.dunning_error`,
shown on the operator's billing page) and the run goes on with the next account; the next run
tries that account again. A suspended or archived account's instances are brought to that state
on every run until they really are in it (suspension asked while an instance was busy is not
forgotten), and the reconciler does the same every minute from the instances' desired state.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from tenantry.billing.conf import billing_setting
from tenantry.billing.models import AccountState, BillingAccount, Invoice, InvoiceStatus, Subscription
from tenantry.billing.models.subscriptions import SubscriptionStatus
from tenantry.billing.services.dunning import DUNNING_ACTOR, notify_account, set_account_state
from tenantry.billing.services.payment_retry import Retry, RetryOutcome, payment_retry
from tenantry.billing.services.resources import live_instances
from tenantry.core.audit import audit_log
from tenantry.core.errors import ApplicationError
from tenantry.core.logging import get_logger
from tenantry.instances.models import Instance, Status

log = get_logger(__name__)
DUNNING_ERROR_ACTION = "billing_account.dunning_error"
_COUNTS = ("retried", "reminded", "suspended", "archived", "deleted", "errors")


def dunning_advance(*, now: datetime | None = None) -> dict[str, int]:
    """Move every account in dunning along its timeline; safe to run as often as wanted.

    Counts: `retried` (a provider was asked to take the money), `reminded` (nothing could be
    charged without the customer: told to pay), `suspended`, `archived`, `deleted`, `errors`
    (accounts whose step failed, recorded for the operator), `expired` (abandoned checkouts)."""
    now = now or timezone.now()
    counts = dict.fromkeys(_COUNTS, 0)
    accounts = (BillingAccount.objects.exclude(state__in=[AccountState.ACTIVE, AccountState.DELETED])
                .order_by("pk").values_list("pk", flat=True))
    for account_id in accounts:
        try:
            _advance(account_id, now, counts)
        except Exception as exc:  # one account's failure must never stop the others
            counts["errors"] += 1
            _record_error(account_id, exc)
    counts["expired"] = subscriptions_expire_incomplete(now=now)
    return counts


def _locked(account_id: UUID) -> BillingAccount:
    return BillingAccount.objects.select_for_update(of=("self",)).select_related("team").get(pk=account_id)


def _advance(account_id: UUID, now: datetime, counts: dict[str, int]) -> None:
    with transaction.atomic():
        account = _locked(account_id)
        invoice = _book_retry(account, now) if _retry_due(account, now) else None
    if invoice is not None:
        # The charge goes to the provider outside any transaction (a slow provider holds no lock).
        retry = payment_retry(invoice=invoice, actor=DUNNING_ACTOR)
        counts["retried" if retry.attempted else "reminded"] += 1
        with transaction.atomic():
            _tell_customer(_locked(account_id), invoice, retry)
    with transaction.atomic():
        account = _locked(account_id)  # a retry may have paid everything: the state is read again
        stage = _due_stage(account, now)
        if stage is not None:
            _STAGES[stage](account, now)
            counts[stage] += 1
        elif account.state == AccountState.SUSPENDED:
            _enforce(account, "suspend")
        elif account.state == AccountState.ARCHIVED:
            _enforce(account, "archive")


def _record_error(account_id: UUID, exc: Exception) -> None:
    log.exception("dunning.account_failed", account=str(account_id), error=exc.__class__.__name__)
    try:
        with transaction.atomic():
            account = BillingAccount.objects.get(pk=account_id)
            audit_log(actor=DUNNING_ACTOR, action=DUNNING_ERROR_ACTION, target=account,
                      data={"team": str(account.team_id), "state": account.state, "error": exc.__class__.__name__,
                            "code": str(getattr(exc, "code", "")), "message": str(exc)[:300]})
    except Exception:  # the database itself is down: the log line above is all we can do
        log.exception("dunning.error_not_recorded", account=str(account_id))


# --- retries -------------------------------------------------------------------------------------

def _retry_due(account: BillingAccount, now: datetime) -> bool:
    return (account.state in (AccountState.PAST_DUE, AccountState.SUSPENDED)
            and account.next_retry_at is not None and account.next_retry_at <= now)


def _book_retry(account: BillingAccount, now: datetime) -> Invoice | None:
    """Count the retry and schedule the next one (committed before the charge: a provider that
    fails never makes the same retry run again at every pass); the oldest unpaid invoice."""
    invoice = Invoice.objects.filter(account=account, status=InvoiceStatus.FINALIZED).order_by("issued_at").first()
    schedule = billing_setting("RETRY_DAYS")
    account.dunning_retries += 1
    later = schedule[account.dunning_retries] if account.dunning_retries < len(schedule) else None
    started = account.dunning_started_at or now
    account.next_retry_at = started + timedelta(days=later) if later is not None else None
    account.save(update_fields=["dunning_retries", "next_retry_at", "updated_at"])
    audit_log(actor=DUNNING_ACTOR, action="billing_account.retry", target=account,
              data={"retry": account.dunning_retries, "invoice": invoice.display_number if invoice else None})
    return invoice


def _tell_customer(account: BillingAccount, invoice: Invoice, retry: Retry) -> None:
    """The reminder says what the retry did and what the customer has to do (if anything)."""
    audit_log(actor=DUNNING_ACTOR, action="billing_account.retry_outcome", target=account,
              data={"invoice": invoice.display_number, "outcome": retry.outcome,
                    "payment": str(retry.payment.pk) if retry.payment else None, "message": retry.message[:200]})
    if retry.outcome in (RetryOutcome.CHARGED, RetryOutcome.PROCESSING, RetryOutcome.NOTHING_DUE):
        return  # nothing for the customer to do (the invoice's own emails say it is paid)
    phone = str(retry.payment.metadata.get("phone", "")) if retry.payment else ""
    notify_account(account, "billing_payment_reminder", invoice, retry=account.dunning_retries, outcome=retry.outcome,
            reason=retry.message[:300], phone_end=phone[-4:])


# --- suspension, archive, deletion ---------------------------------------------------------------

def _due_stage(account: BillingAccount, now: datetime) -> str | None:
    """The next stage whose time has come ("suspended", "archived", "deleted"), if any."""
    days = timedelta(days=1)
    if account.state == AccountState.PAST_DUE:
        started = account.dunning_started_at or account.state_changed_at or now
        return "suspended" if now >= started + billing_setting("SUSPEND_AFTER_DAYS") * days else None
    since = account.state_changed_at or now
    if account.state == AccountState.SUSPENDED:
        return "archived" if now >= since + billing_setting("ARCHIVE_AFTER_DAYS") * days else None
    if account.state == AccountState.ARCHIVED:
        return "deleted" if now >= since + billing_setting("DELETE_AFTER_DAYS") * days else None
    return None


def _enforce(account: BillingAccount, kind: str) -> None:
    """Bring every live instance of the team to the account's state (idempotent: an instance
    already there, or on its way, is left alone; a busy one keeps the desired state for later)."""
    from tenantry.instances.lifecycle import instance_archive, instance_suspend

    for instance in live_instances(account.team):
        if kind == "suspend" and instance.status == Status.SUSPENDED:
            continue
        # Failed for good since the account got here (operations retry transient errors
        # themselves): an operator's turn, not a new failing operation every 15 minutes.
        last = instance.operations.filter(kind=kind).order_by("-created_at").first()
        if last is not None and last.status == "failed" and (
                account.state_changed_at is None or last.created_at >= account.state_changed_at):
            continue
        try:
            with transaction.atomic():
                if kind == "suspend":
                    instance_suspend(instance=instance, actor=DUNNING_ACTOR, reason="unpaid invoice")
                else:
                    instance_archive(instance=instance, actor=DUNNING_ACTOR, reason="unpaid")
        except ApplicationError as exc:  # e.g. deleted meanwhile: recorded, the others go on
            audit_log(actor=DUNNING_ACTOR, action=f"instance.{kind}_deferred", target=instance,
                      data={"error": exc.code})


def _suspend(account: BillingAccount, now: datetime) -> None:
    set_account_state(account, AccountState.SUSPENDED, DUNNING_ACTOR, now, reason="unpaid")
    _enforce(account, "suspend")
    notify_account(account, "billing_suspended", None)


def _archive(account: BillingAccount, now: datetime) -> None:
    from tenantry.billing.services.subscriptions import subscription_terminate

    set_account_state(account, AccountState.ARCHIVED, DUNNING_ACTOR, now, reason="unpaid")
    for subscription in Subscription.objects.filter(account=account, status__in=["past_due", "active", "trialing",
                                                                                 "incomplete"]):
        subscription_terminate(subscription=subscription, actor=DUNNING_ACTOR, reason="unpaid")
    # Instances without a live subscription (e.g. created by an operator) are archived too; those
    # the termination already queued are left to their operation (archiving is idempotent).
    _enforce(account, "archive")


def _delete(account: BillingAccount, now: datetime) -> None:
    from tenantry.instances.archive import archive_dir
    from tenantry.instances.services import instance_delete

    set_account_state(account, AccountState.DELETED, DUNNING_ACTOR, now, reason="retention over")
    for instance in Instance.objects.filter(team_id=account.team_id, status=Status.ARCHIVED):
        try:
            with transaction.atomic():
                instance_delete(instance=instance, actor=DUNNING_ACTOR)
        except ApplicationError as exc:
            audit_log(actor=DUNNING_ACTOR, action="instance.delete_deferred", target=instance,
                      data={"error": exc.code})
            continue
        directory = archive_dir(str(instance.pk))
        transaction.on_commit(partial(shutil.rmtree, directory, ignore_errors=True))


_STAGES: dict[str, Callable[[BillingAccount, datetime], None]] = {
    "suspended": _suspend, "archived": _archive, "deleted": _delete}


def subscriptions_expire_incomplete(*, now: datetime | None = None) -> int:
    """Cancel checkouts whose first invoice was never paid (voiding it): one live subscription per
    team is a database rule, and an abandoned checkout must not block choosing a plan again."""
    from tenantry.billing.services.invoicing import invoice_void

    now = now or timezone.now()
    cutoff = now - timedelta(days=billing_setting("INCOMPLETE_EXPIRE_DAYS"))
    expired = 0
    # An account already in dunning follows its own timeline (which ends the subscription).
    for subscription_id in Subscription.objects.filter(status=SubscriptionStatus.INCOMPLETE, created_at__lt=cutoff,
                                                       account__state=AccountState.ACTIVE).values_list("pk", flat=True):
        with transaction.atomic():
            subscription = Subscription.objects.select_for_update().get(pk=subscription_id)
            if subscription.status != SubscriptionStatus.INCOMPLETE:
                continue  # paid meanwhile
            for invoice in subscription.invoices.filter(status=InvoiceStatus.FINALIZED):
                invoice_void(invoice=invoice, actor="billing", reason="the first payment never arrived")
            subscription.status = SubscriptionStatus.CANCELED
            subscription.canceled_at = subscription.ended_at = now
            subscription.save(update_fields=["status", "canceled_at", "ended_at", "updated_at"])
            audit_log(actor="billing", action="subscription.expired", target=subscription,
                      data={"created_at": subscription.created_at.isoformat()})
            expired += 1
    return expired
