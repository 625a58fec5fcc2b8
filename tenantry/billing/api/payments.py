"""Payments over REST: pay an invoice, payment history, status, cancel a pending payment.

Mounted with the other billing modules at /api/v1/billing/<team>/…, with the same access rules
(tenantry.billing.api.common: a signed-in member with session + CSRF; team API keys are refused
billing rights by the access policy). Reading needs `billing.view`, paying and cancelling
`billing.manage`. The provider's callbacks are not here:
they are the signed webhooks at /webhooks/<provider>.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Router, Schema, Status
from ninja.pagination import paginate
from pydantic import Field

from tenantry.api.pagination import BoundedPagination
from tenantry.billing import payment_selectors
from tenantry.billing.api.common import AUTH, ERRORS, billing_access
from tenantry.billing.models import Payment
from tenantry.billing.selectors import team_invoice
from tenantry.billing.services.payments import payment_cancel, payment_refresh, payment_start

router = Router(tags=["payments"], auth=AUTH)


class PaymentIn(Schema):
    provider: str = Field(description="Payment provider alias: gateway (Mobile Money), stripe, manual",
                          examples=["gateway"])
    method: str = Field(description="mobile_money, card, sepa or bank_transfer", examples=["mobile_money"])
    phone: str | None = Field(default=None, description="Mobile Money number (E.164)", examples=["+22507000001"])
    return_url: str = Field(default="", description="Where a hosted payment page sends the customer back")


class PaymentOut(Schema):
    id: UUID
    invoice_id: UUID | None
    invoice_number: str
    provider: str
    method: str
    status: str = Field(description="pending, processing, succeeded, failed or cancelled")
    amount_minor: int
    currency: str
    instructions: str
    redirect_url: str
    failure_message: str
    created_at: datetime
    settled_at: datetime | None

    @staticmethod
    def resolve_invoice_number(obj: Payment) -> str:
        return obj.invoice.display_number if obj.invoice is not None else ""


@router.post("/{team_slug}/invoices/{invoice_id}/payments", response={201: PaymentOut, **ERRORS},
             summary="Pay an invoice (initiate a payment)")
def initiate(request: HttpRequest, team_slug: str, invoice_id: UUID, payload: PaymentIn) -> Status:
    """Starts a payment of the invoice's amount due. Mobile Money answers `pending` with
    instructions (the customer confirms on the phone); Stripe with a `redirect_url`; a bank
    transfer with our bank details. Repeating the call returns the payment in progress."""
    access = billing_access(request, team_slug, "billing.manage")
    invoice = team_invoice(access.team, invoice_id)
    payment = payment_start(invoice=invoice, provider=payload.provider, method=payload.method, actor=access.actor,
                            phone=payload.phone, return_url=payload.return_url)
    return Status(201, payment_selectors.team_payment(access.team, payment.pk))


@router.get("/{team_slug}/payments", response=list[PaymentOut], summary="Payment history (paginated: limit, offset)")
@paginate(BoundedPagination)
def history(request: HttpRequest, team_slug: str) -> QuerySet[Payment]:
    access = billing_access(request, team_slug, "billing.view")
    return payment_selectors.team_payments(access.team)


@router.get("/{team_slug}/payments/{payment_id}", response={200: PaymentOut, **ERRORS}, summary="Payment status")
def status(request: HttpRequest, team_slug: str, payment_id: UUID, refresh: bool = False) -> Payment:
    """With `refresh=true`, an open payment is checked with the provider first (in case its
    callback was lost)."""
    access = billing_access(request, team_slug, "billing.view")
    payment = payment_selectors.team_payment(access.team, payment_id)
    if refresh:
        payment_refresh(payment=payment)
        payment = payment_selectors.team_payment(access.team, payment_id)
    return payment


@router.post("/{team_slug}/payments/{payment_id}/cancel", response={200: PaymentOut, **ERRORS},
             summary="Cancel a pending payment")
def cancel(request: HttpRequest, team_slug: str, payment_id: UUID) -> Payment:
    access = billing_access(request, team_slug, "billing.manage")
    payment = payment_cancel(payment=payment_selectors.team_payment(access.team, payment_id), actor=access.actor)
    return payment_selectors.team_payment(access.team, payment.pk)
