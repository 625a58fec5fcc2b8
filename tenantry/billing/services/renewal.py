"""The billing run: invoice every subscription whose period ended, exactly once.

Exactly once is the database's job: the subscriptions of a batch are locked (SKIP LOCKED where the
database has it, so concurrent runs split the work), their next period is invoiced and the period
advanced in the same transaction, and a unique constraint on (subscription, period_start, reason)
refuses a second invoice for a period whatever happens. Work is done in bulk per batch.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from django.db import connection, transaction
from django.utils import timezone

from tenantry.billing.conf import billing_setting
from tenantry.billing.events import emit_invoices_finalized
from tenantry.billing.models import (
    AddOnPurchase,
    AddOnStatus,
    Discount,
    Invoice,
    InvoiceLine,
    Subscription,
    SubscriptionStatus,
    TaxRate,
)
from tenantry.billing.periods import next_period
from tenantry.billing.services.bulk import bulk_set
from tenantry.billing.services.invoicing import build_invoice, reserve_numbers, stamp_finalized, tax_for
from tenantry.billing.services.pricing import consume, period_charges
from tenantry.core.models import AuditEvent

RENEWABLE = [SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE]
ACTOR = "billing:run"


@dataclass
class RunReport:
    invoices: int = 0
    ended: int = 0
    batches: int = 0
    invoice_ids: list[str] = field(default_factory=list)


def billing_run(*, now: datetime | None = None, batch_size: int | None = None, notify: bool = True) -> RunReport:
    """Renew every due subscription (catching up on missed periods one period at a time)."""
    now = now or timezone.now()
    batch_size = batch_size or billing_setting("RUN_BATCH_SIZE")
    report = RunReport()
    while True:
        with transaction.atomic():
            due = (Subscription.objects.filter(status__in=RENEWABLE, current_period_end__lte=now)
                   .order_by("current_period_end", "pk"))
            if connection.features.has_select_for_update_skip_locked:
                due = due.select_for_update(skip_locked=True, of=("self",))
            else:
                due = due.select_for_update()
            batch = list(due.select_related("plan", "pending_plan", "account__team")[:batch_size])
            if not batch:
                return report
            ids = _renew_batch(batch, now, report)
            report.batches += 1
            if notify and ids:
                transaction.on_commit(partial(_notify, ids))


def _notify(ids: list[str]) -> None:
    from tenantry.billing.tasks import invoices_issued_task

    invoices_issued_task(ids)


def _renew_batch(batch: list[Subscription], now: datetime, report: RunReport) -> list[str]:
    from tenantry.billing.services.subscriptions import subscription_cancel
    from tenantry.metering.services.quotas import overage_lines  # metering reads billing: import late

    sub_ids = [s.pk for s in batch]
    rates = {r.country: r for r in TaxRate.objects.all()}
    addons: dict[object, list[AddOnPurchase]] = defaultdict(list)
    for purchase in (AddOnPurchase.objects.filter(subscription_id__in=sub_ids, status=AddOnStatus.ACTIVE,
                                                  auto_renew=True).select_related("addon")):
        addons[purchase.subscription_id].append(purchase)
    discounts: dict[object, list[Discount]] = defaultdict(list)
    for discount in Discount.objects.filter(subscription_id__in=sub_ids, ended_at__isnull=True) \
            .select_related("coupon").order_by("created_at"):
        discounts[discount.subscription_id].append(discount)

    invoices: list[Invoice] = []
    lines: list[InvoiceLine] = []
    renewed: list[Subscription] = []
    renewed_addons: list[AddOnPurchase] = []
    used_discounts: list[Discount] = []
    resized_teams = []
    for subscription in batch:
        if subscription.cancel_at_period_end:
            subscription_cancel(subscription=subscription, actor=ACTOR, at_period_end=False)
            report.ended += 1
            continue
        account = subscription.account
        start = subscription.current_period_end
        # Usage is billed in arrears: the period that just ended, on the plan it ran on.
        overage = overage_lines(subscription=subscription, start=subscription.current_period_start, end=start)
        if subscription.pending_plan_id:
            if subscription.pending_interval and subscription.pending_interval != subscription.interval:
                subscription.interval, subscription.billing_anchor = subscription.pending_interval, start
            subscription.plan = subscription.pending_plan  # type: ignore[assignment]
            subscription.pending_plan, subscription.pending_interval = None, ""
            resized_teams.append(account.team)
        _, end = next_period(subscription.billing_anchor, start, subscription.interval, account.time_zone)
        charges, used = period_charges(plan=subscription.plan, interval=subscription.interval, start=start, end=end,
                                       addons=addons[subscription.pk], discounts=discounts[subscription.pk])
        charges += overage
        invoice, rows = build_invoice(account=account, subscription=subscription, reason=Invoice.Reason.RENEWAL,
                                      currency=subscription.currency, lines=charges, period_start=start,
                                      period_end=end, tax=tax_for(account, rates))
        invoices.append(invoice)
        lines.extend(rows)
        consume(used, now)
        used_discounts.extend(used)
        for purchase in addons[subscription.pk]:
            purchase.expires_at = max(purchase.expires_at, end)
            renewed_addons.append(purchase)
        subscription.current_period_start, subscription.current_period_end = start, end
        if subscription.status == SubscriptionStatus.TRIALING:
            subscription.status = SubscriptionStatus.ACTIVE
        subscription.updated_at = now
        renewed.append(subscription)

    if invoices:
        first = reserve_numbers(invoices[0].series, len(invoices))
        for offset, invoice in enumerate(invoices):
            stamp_finalized(invoice, first + offset, now)
        Invoice.objects.bulk_create(invoices)  # IntegrityError on a period already invoiced: batch rolls back
        InvoiceLine.objects.bulk_create(lines, batch_size=2000)
        AuditEvent.objects.bulk_create([
            AuditEvent(actor=ACTOR, action="invoice.renewal", target_type="billing.invoice", target_id=str(i.pk),
                       data={"number": i.display_number, "total_minor": i.total_minor,
                             "subscription": str(i.subscription_id)})
            for i in invoices], batch_size=2000)
        emit_invoices_finalized(invoices)
    bulk_set(renewed, ["plan", "interval", "billing_anchor", "pending_plan", "pending_interval",
                       "current_period_start", "current_period_end", "status", "updated_at"])
    bulk_set(renewed_addons, ["expires_at"])
    bulk_set(used_discounts, ["periods_applied", "ended_at"])
    if resized_teams:
        from tenantry.billing.services.resources import apply_team_limits

        transaction.on_commit(lambda: [apply_team_limits(team=t, actor=ACTOR) for t in resized_teams])
    report.invoices += len(invoices)
    ids = [str(i.pk) for i in invoices]
    report.invoice_ids.extend(ids)
    return ids
