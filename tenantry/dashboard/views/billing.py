"""The team's billing page (plan, next invoice, invoices, payment methods, add-ons, payments) and
the operator's billing overview (MRR per currency, unpaid invoices, suspended teams)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tenantry.accounts.access import Access
from tenantry.billing import payment_selectors, selectors
from tenantry.billing.models import Invoice
from tenantry.billing.pdf import ensure_invoice_pdf
from tenantry.billing.services import addon_buy, addon_cancel
from tenantry.billing.services.bank_transfers import payment_mark_paid_manually
from tenantry.core.errors import ApplicationError, NotFound
from tenantry.dashboard.context import signed_in_user, with_team
from tenantry.dashboard.views.billing_checkout import payment_choices


@with_team("billing.view")
def billing(request: HttpRequest, access: Access) -> HttpResponse:
    subscription = selectors.team_subscription(access.team)
    preview = selectors.invoice_preview(subscription) if subscription is not None else None
    addons = selectors.available_addons(subscription.currency) if subscription is not None else []
    payments = list(payment_selectors.team_payments(access.team)[:50])
    used = {(p.provider, p.method) for p in payments if p.status == "succeeded"}
    return render(request, "dashboard/billing.html", {
        "access": access, "nav": "billing", "subscription": subscription, "preview": preview,
        "invoices": list(selectors.team_invoices(access.team)[:50]), "payments": payments,
        "purchases": list(selectors.team_addons(access.team).filter(status="active")),
        "addons": addons if subscription is not None and subscription.plan.addons_allowed else [],
        "methods": [dict(c, used=(c["provider"], c["method"]) in used) for c in payment_choices()],
        "can_manage": access.allows("billing.manage")})


def _invoice(access: Access, invoice_id: str) -> Invoice:
    try:
        return selectors.team_invoice(access.team, invoice_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc


@with_team("billing.view")
def invoice_pdf(request: HttpRequest, access: Access, invoice_id: str) -> FileResponse:
    invoice = _invoice(access, invoice_id)
    path = ensure_invoice_pdf(invoice)
    return FileResponse(path.open("rb"), content_type="application/pdf", as_attachment=True,
                        filename=f"{invoice.display_number}.pdf")


@require_POST
@with_team("billing.manage")
def addon_buy_view(request: HttpRequest, access: Access) -> HttpResponse:
    subscription = selectors.team_subscription(access.team)
    addon_id = request.POST.get("addon", "")
    try:
        addon = selectors.available_addons().filter(pk=addon_id).first() if subscription else None
    except DjangoValidationError:  # not a UUID
        addon = None
    if subscription is None or addon is None:
        raise Http404("No such add-on")
    try:
        purchase = addon_buy(subscription=subscription, addon=addon, actor=access.actor,
                             quantity=int(request.POST.get("quantity") or 1))
    except (ApplicationError, ValueError) as exc:
        messages.error(request, getattr(exc, "message", _("Invalid quantity.")))
        return redirect("dashboard:billing", team_slug=access.team.slug)
    invoice = Invoice.objects.filter(team=access.team, status="finalized", lines__addon_purchase=purchase).first()
    if invoice is not None:
        return redirect("dashboard:billing_pay", team_slug=access.team.slug, invoice_id=invoice.pk)
    messages.success(request, _("Add-on added: %(name)s.") % {"name": addon.name})
    return redirect("dashboard:billing", team_slug=access.team.slug)


@require_POST
@with_team("billing.manage")
def addon_cancel_view(request: HttpRequest, access: Access, purchase_id: str) -> HttpResponse:
    try:
        purchase = selectors.team_addon(access.team, purchase_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    addon_cancel(purchase=purchase, actor=access.actor)
    messages.success(request, _("The add-on will not be renewed."))
    return redirect("dashboard:billing", team_slug=access.team.slug)


@staff_member_required
def operator_billing(request: HttpRequest) -> HttpResponse:
    overview = selectors.operator_billing_overview()
    return render(request, "dashboard/operator_billing.html", {
        "nav": "operator_billing", "overview": overview, "mrr": sorted(overview.mrr_minor.items()),
        "unpaid_totals": sorted(overview.unpaid_total_minor.items())})


@require_POST
@staff_member_required
def operator_mark_paid(request: HttpRequest, invoice_id: str) -> HttpResponse:
    """A bank transfer arrived: the operator records it with the bank's reference."""
    invoice = Invoice.objects.filter(pk=invoice_id).first()  # operators see every team
    if invoice is None:
        raise Http404("No such invoice")
    try:
        payment_mark_paid_manually(invoice=invoice, actor=f"operator:{signed_in_user(request).email}",
                                   reference=request.POST.get("reference", ""))
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Invoice %(number)s marked paid.") % {"number": invoice.display_number})
    return redirect("dashboard:operator_billing")
