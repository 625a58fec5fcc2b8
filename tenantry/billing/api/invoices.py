"""A team's invoices: list, show, PDF."""

from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet
from django.http import FileResponse, HttpRequest
from ninja import Router
from ninja.pagination import paginate

from tenantry.api.pagination import BoundedPagination
from tenantry.billing import selectors
from tenantry.billing.api.common import AUTH, ERRORS, billing_access
from tenantry.billing.api.schemas import InvoiceDetailOut, InvoiceOut
from tenantry.billing.models import Invoice
from tenantry.billing.pdf import ensure_invoice_pdf

router = Router(tags=["billing"], auth=AUTH)


@router.get("/{team_slug}/invoices", response=list[InvoiceOut], summary="Issued invoices, newest first")
@paginate(BoundedPagination)
def list_invoices(request: HttpRequest, team_slug: str) -> QuerySet[Invoice]:
    access = billing_access(request, team_slug, "billing.view")
    return selectors.team_invoices(access.team)


@router.get("/{team_slug}/invoices/{invoice_id}", response={200: InvoiceDetailOut, **ERRORS},
            summary="An invoice with its lines")
def show_invoice(request: HttpRequest, team_slug: str, invoice_id: UUID) -> Invoice:
    access = billing_access(request, team_slug, "billing.view")
    return selectors.team_invoice(access.team, invoice_id)


@router.get("/{team_slug}/invoices/{invoice_id}/pdf", response={200: None, **ERRORS}, summary="The invoice PDF")
def invoice_pdf(request: HttpRequest, team_slug: str, invoice_id: UUID) -> FileResponse:
    access = billing_access(request, team_slug, "billing.view")
    invoice = selectors.team_invoice(access.team, invoice_id)
    path = ensure_invoice_pdf(invoice)
    return FileResponse(path.open("rb"), content_type="application/pdf", as_attachment=True, filename=path.name)
