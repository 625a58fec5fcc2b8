"""Payment reads, always scoped to a team: another team's payment looks exactly like a missing one."""

from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet

from tenantry.accounts.models import Team
from tenantry.billing.models import Payment
from tenantry.core.errors import NotFound


def team_payments(team: Team) -> QuerySet[Payment]:
    return Payment.objects.filter(team=team).select_related("invoice").order_by("-created_at")


def team_payment(team: Team, payment_id: UUID | str) -> Payment:
    try:
        payment = team_payments(team).filter(pk=UUID(str(payment_id))).first()
    except ValueError:
        payment = None
    if payment is None:
        raise NotFound("No such payment.")
    return payment


def open_payment(team: Team, invoice_id: UUID | str) -> Payment | None:
    """The payment in progress for an invoice, if any (to show its instructions again)."""
    return team_payments(team).filter(invoice_id=invoice_id, status__in=("pending", "processing")).first()
