"""Choosing a plan (also the last step of signup), paying an invoice, following a payment.

After signup and verification a new customer lands on the plan choice (see
tenantry.billing.signup_adapter), picks a plan, an interval and an app, and pays the first
invoice; the instance is provisioned when the payment succeeds (or at once for a trial).
"""

from __future__ import annotations

import logging
import secrets

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from tenantry.accounts.access import Access
from tenantry.billing import payment_selectors, selectors
from tenantry.billing.models import Invoice, Plan
from tenantry.billing.providers.base import get_provider, provider_names
from tenantry.billing.services import subscription_checkout, subscription_instance_rename
from tenantry.billing.services.payments import payment_cancel, payment_refresh, payment_start
from tenantry.catalog.registry import get_catalog
from tenantry.core.errors import ApplicationError, NotFound
from tenantry.core.links import dashboard_url
from tenantry.dashboard.context import with_team

METHOD_LABELS = {"mobile_money": gettext_lazy("Mobile Money"), "card": gettext_lazy("Card"),
                 "sepa": gettext_lazy("SEPA direct debit"), "bank_transfer": gettext_lazy("Bank transfer")}


logger = logging.getLogger(__name__)


def payment_choices() -> list[dict[str, str]]:
    """What the configured providers can take, Mobile Money first (the seed's main market)."""
    choices = []
    for name in provider_names():
        try:
            provider = get_provider(name)
        except Exception:  # a misconfigured provider must not take the billing pages down
            logger.exception("payment provider %s cannot be loaded", name)
            continue
        for method in provider.methods:
            choices.append({"value": f"{name}:{method}", "provider": name, "method": method,
                            "label": str(METHOD_LABELS.get(method, method))})
    order = ["mobile_money", "card", "sepa", "bank_transfer"]
    return sorted(choices, key=lambda c: order.index(c["method"]) if c["method"] in order else 99)


@with_team("billing.view")
def plans(request: HttpRequest, access: Access) -> HttpResponse:
    """Plan choice and checkout; a double submit (same form token) creates one subscription."""
    current = selectors.team_subscription(access.team)
    public = list(selectors.public_plans().order_by("sort_order", "price_month_minor"))
    catalog = get_catalog()
    error = name_error = ""
    instance_slug = (request.POST.get("instance_slug") or "").strip()
    if request.method == "POST":
        if not access.allows("billing.manage"):
            raise Http404("Not allowed")
        plan = next((p for p in public if str(p.pk) == request.POST.get("plan")), None)
        app = request.POST.get("app") or None
        if plan is None:
            error = _("Choose a plan.")
        else:
            try:
                subscription = subscription_checkout(
                    team=access.team, plan=plan, interval=request.POST.get("interval", "month"), actor=access.actor,
                    coupon_code=request.POST.get("coupon") or None, app=app,
                    instance_slug=instance_slug, propose_instance_slug=False,  # the customer names it
                    idempotency_key=f"dashboard:{request.POST.get('token', '')}" if request.POST.get("token") else None)
            except ApplicationError as exc:
                if exc.details.get("field") == "instance_slug":
                    name_error = exc.message
                else:
                    error = exc.message
            else:
                invoice = subscription.invoices.filter(status="finalized").order_by("-created_at").first()
                if invoice is not None:
                    return redirect("dashboard:billing_pay", team_slug=access.team.slug, invoice_id=invoice.pk)
                messages.success(request, _("Your subscription has started."))
                return redirect("dashboard:home")
    return render(request, "dashboard/billing_plans.html", {
        "access": access, "nav": "billing", "plans": [_plan_row(p, catalog) for p in public], "current": current,
        "error": error, "name_error": name_error, "instance_slug": instance_slug,
        "base_domain": settings.TENANTRY["BASE_DOMAIN"],
        "chosen_plan": request.POST.get("plan", ""), "chosen_app": request.POST.get("app", ""),
        "token": secrets.token_urlsafe(16), "signup": request.GET.get("signup") == "1",
        "can_manage": access.allows("billing.manage")})


@require_POST
@with_team("billing.manage")
def instance_name(request: HttpRequest, access: Access) -> HttpResponse:
    """Another name for a paid-for instance that could not be created under the first one."""
    subscription = selectors.team_subscription(access.team)
    if subscription is None:
        raise Http404("No subscription")
    try:
        subscription = subscription_instance_rename(
            subscription=subscription, slug=request.POST.get("instance_slug", ""), actor=access.actor)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        if subscription.provisioned:
            messages.success(request, _("Your instance %(name)s is being set up.")
                             % {"name": subscription.instance_slug})
    return redirect("dashboard:overview", team_slug=access.team.slug)


def _plan_row(plan: Plan, catalog: dict) -> dict:
    apps = [catalog[name] for name in (plan.allowed_apps or sorted(catalog)) if name in catalog]
    return {"plan": plan, "apps": apps}


def _payable(access: Access, invoice_id: str) -> Invoice:
    try:
        invoice = selectors.team_invoice(access.team, invoice_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    return invoice


@with_team("billing.manage")
def pay(request: HttpRequest, access: Access, invoice_id: str) -> HttpResponse:
    invoice = _payable(access, invoice_id)
    if invoice.status != "finalized":
        messages.info(request, _("This invoice has nothing left to pay."))
        return redirect("dashboard:billing", team_slug=access.team.slug)
    current = payment_selectors.open_payment(access.team, invoice.pk)
    if current is not None and request.method == "GET":
        return redirect("dashboard:billing_payment", team_slug=access.team.slug, payment_id=current.pk)
    choices = payment_choices()
    error = ""
    if request.method == "POST":
        chosen = next((c for c in choices if c["value"] == request.POST.get("choice")), None)
        if chosen is None:
            error = _("Choose a payment method.")
        else:
            return_url = dashboard_url(f"/t/{access.team.slug}/billing/")  # not the request's Host
            try:
                payment = payment_start(invoice=invoice, provider=chosen["provider"], method=chosen["method"],
                                        actor=access.actor, phone=request.POST.get("phone"), return_url=return_url)
            except ApplicationError as exc:
                error = exc.message
            else:
                if payment.redirect_url:  # a hosted payment page (Stripe Checkout)
                    return redirect(payment.redirect_url)
                return redirect("dashboard:billing_payment", team_slug=access.team.slug, payment_id=payment.pk)
    account = access.team.billing_account if hasattr(access.team, "billing_account") else None
    return render(request, "dashboard/billing_pay.html", {
        "access": access, "nav": "billing", "invoice": invoice, "choices": choices, "error": error,
        "phone": request.POST.get("phone") or (account.phone if account else ""),
        "chosen": request.POST.get("choice") or (choices[0]["value"] if choices else "")})


def _payment_context(request: HttpRequest, access: Access, payment_id: str) -> dict:
    try:
        payment = payment_selectors.team_payment(access.team, payment_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    if request.GET.get("refresh") == "1":
        payment = payment_refresh(payment=payment)
    subscription = selectors.team_subscription(access.team)
    return {"access": access, "nav": "billing", "payment": payment, "subscription": subscription,
            "can_manage": access.allows("billing.manage"),
            "settled": payment.status in ("succeeded", "failed", "cancelled")}


@with_team("billing.view")
def payment(request: HttpRequest, access: Access, payment_id: str) -> HttpResponse:
    return render(request, "dashboard/billing_payment.html", _payment_context(request, access, payment_id))


@with_team("billing.view")
def payment_status(request: HttpRequest, access: Access, payment_id: str) -> HttpResponse:
    """The htmx partial the payment page polls until the payment is settled."""
    return render(request, "dashboard/billing_payment_status.html", _payment_context(request, access, payment_id))


@require_POST
@with_team("billing.manage")
def payment_cancel_view(request: HttpRequest, access: Access, payment_id: str) -> HttpResponse:
    try:
        payment = payment_selectors.team_payment(access.team, payment_id)
        payment_cancel(payment=payment, actor=access.actor)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("The payment was cancelled."))
    return redirect("dashboard:billing", team_slug=access.team.slug)
