"""Dashboard billing pages with the Django test client: plan choice after signup, checkout, paying
with Mobile Money through the reference gateway, the billing page, roles, the operator's page."""

from __future__ import annotations

import re

import pytest
import requests
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client, RequestFactory

from tenantry.accounts.models import Role
from tenantry.billing.models import Invoice, Payment, Subscription
from tenantry.billing.signup_adapter import BillingAccountAdapter
from tests.billing.payments_helpers import make_plan, team_with_invoice
from tests.dashboard.helpers import make_user, signed_in

pytestmark = pytest.mark.django_db
pytest_plugins = ["tests.billing.payments_helpers"]


def test_signup_ends_on_the_plan_choice_when_plans_are_on_sale() -> None:
    user = make_user("new@example.com")
    request = RequestFactory().get("/")
    request.user, request.session = user, SessionStore()
    adapter = BillingAccountAdapter(request)
    assert adapter.get_signup_redirect_url(request) == "/"  # no plan on sale: the usual home
    make_plan("starter")
    team = user.memberships.get().team
    assert adapter.get_signup_redirect_url(request) == f"/t/{team.slug}/billing/plans/?signup=1"


def test_checkout_and_pay_with_mobile_money(payment_providers, reference_gateway) -> None:
    plan = make_plan("starter", currency="XOF", month=5000)
    user = make_user("ama@example.com")
    team = user.memberships.get().team
    client = signed_in(user)
    page = client.get(f"/t/{team.slug}/billing/plans/?signup=1")
    assert page.status_code == 200 and "Starter" in page.content.decode() and "5,000 FCFA" in page.content.decode()
    token = re.search(r'name="token" value="([^"]+)"', page.content.decode())[1]
    form = {"plan": str(plan.pk), "interval": "month", "app": "", "token": token}
    first = client.post(f"/t/{team.slug}/billing/plans/", form)
    second = client.post(f"/t/{team.slug}/billing/plans/", form)  # double submit
    assert Subscription.objects.filter(team=team).count() == 1
    invoice = Invoice.objects.get(team=team)
    assert first.status_code == second.status_code == 302
    assert first["Location"] == f"/t/{team.slug}/billing/invoices/{invoice.pk}/pay/"
    pay_page = client.get(first["Location"]).content.decode()
    assert "Mobile Money" in pay_page and "5,000 FCFA" in pay_page
    answer = client.post(first["Location"], {"choice": "gateway:mobile_money", "phone": "+225 07 00 00 00 21"})
    payment = Payment.objects.get(invoice=invoice)
    assert answer["Location"] == f"/t/{team.slug}/billing/payments/{payment.pk}/"
    shown = client.get(answer["Location"]).content.decode()
    assert "Confirm the payment on your phone." in shown and 'hx-trigger="every 2s"' in shown
    # The customer confirms on the (reference gateway's) phone page, whose link the page shows.
    phone_url = re.search(r'href="(http://127\.0\.0\.1:\d+/phone/[^"]+)"', shown)[1].replace("&amp;", "&")
    phone_page = requests.get(phone_url, timeout=5).text
    token = re.search(r"name='token' value='([^']+)'", phone_page)[1]
    requests.post(f"{reference_gateway.url}/v1/payments/{payment.provider_reference}/confirm",
                  data={"token": token}, timeout=5)
    # No callback can reach the test client: the page's polling asks the gateway (refresh=1).
    partial = client.get(f"/t/{team.slug}/billing/payments/{payment.pk}/status/?refresh=1").content.decode()
    assert 'data-status="succeeded"' in partial and "hx-trigger" not in partial
    assert Invoice.objects.get(pk=invoice.pk).status == "paid"
    billing = client.get(f"/t/{team.slug}/billing/").content.decode()
    assert 'data-invoice-status="paid"' in billing and "Starter" in billing and "Succeeded" in billing
    pdf = client.get(f"/t/{team.slug}/billing/invoices/{invoice.pk}/pdf/")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert b"".join(pdf.streaming_content).startswith(b"%PDF")


def test_cancel_a_pending_payment_and_roles(payment_providers) -> None:
    team, _, invoice = team_with_invoice()
    owner = signed_in(team.memberships.get().user)
    owner.post(f"/t/{team.slug}/billing/invoices/{invoice.pk}/pay/",
               {"choice": "gateway:mobile_money", "phone": "+22507000022"})
    payment = Payment.objects.get(invoice=invoice)
    billing = owner.get(f"/t/{team.slug}/billing/").content.decode()
    assert f'data-payment="{payment.pk}"' in billing and "Cancel" in billing
    member = signed_in(make_user("member@example.com", team=team, role=Role.MEMBER))
    assert member.get(f"/t/{team.slug}/billing/").status_code == 404
    assert member.post(f"/t/{team.slug}/billing/payments/{payment.pk}/cancel/").status_code == 404
    admin = signed_in(make_user("admin@example.com", team=team, role=Role.ADMIN))
    assert admin.get(f"/t/{team.slug}/billing/").status_code == 200
    assert admin.post(f"/t/{team.slug}/billing/payments/{payment.pk}/cancel/").status_code == 404
    accountant = signed_in(make_user("books@example.com", team=team, role=Role.BILLING))
    assert "Billing" in accountant.get(f"/t/{team.slug}/billing/").content.decode()
    accountant.post(f"/t/{team.slug}/billing/payments/{payment.pk}/cancel/")
    assert Payment.objects.get(pk=payment.pk).status == "cancelled"
    # Another team's payment page is a 404.
    other, _, _ = team_with_invoice()
    assert signed_in(other.memberships.get().user).get(
        f"/t/{other.slug}/billing/payments/{payment.pk}/").status_code == 404


def test_operator_sees_revenue_and_marks_a_transfer_paid(payment_providers) -> None:
    team, _, invoice = team_with_invoice(currency="EUR", amount=1900)
    staff = make_user("root@example.com")
    staff.is_staff = True
    staff.save()
    operator = signed_in(staff)
    page = operator.get("/operator/billing/").content.decode()
    assert f'data-invoice="{invoice.display_number}"' in page
    assert Client().get("/operator/billing/").status_code == 302  # sign in first
    assert signed_in(team.memberships.get().user).get("/operator/billing/").status_code == 302
    operator.post(f"/operator/billing/invoices/{invoice.pk}/mark-paid/", {"reference": "VIR-0042"})
    assert Invoice.objects.get(pk=invoice.pk).status == "paid"
    payment = Payment.objects.get(invoice=invoice)
    assert (payment.provider, payment.provider_reference, payment.status) == ("manual", "VIR-0042", "succeeded")
    page = operator.get("/operator/billing/").content.decode()
    assert f'data-invoice="{invoice.display_number}"' not in page and 'data-mrr="EUR"' in page


def test_bank_transfer_shows_the_instructions_and_does_not_poll(payment_providers) -> None:
    team, _, invoice = team_with_invoice(currency="EUR", amount=1900)
    owner = signed_in(team.memberships.get().user)
    answer = owner.post(f"/t/{team.slug}/billing/invoices/{invoice.pk}/pay/", {"choice": "manual:bank_transfer"})
    page = owner.get(answer["Location"]).content.decode()
    assert f"Reference: {invoice.display_number}" in page and "FR76 3000" in page
    assert "hx-trigger" not in page  # only an operator settles it: nothing to poll
