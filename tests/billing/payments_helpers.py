"""Fixtures for the payments tests: a team owing a finalized invoice (built with the billing services),
the reference Mobile Money gateway as a real HTTP server on 127.0.0.1, providers wired to it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from tenantry.accounts.models import Team
from tenantry.billing.gateway_reference.server import GatewayServer
from tenantry.billing.models import Invoice, Plan, Subscription
from tenantry.billing.services import billing_account_for, subscription_checkout
from tenantry.core.backends import reset_backends
from tests.dashboard.helpers import make_user

GATEWAY_KEY, GATEWAY_SECRET = "test-gateway-key", "test-gateway-secret"
STRIPE_WHSEC = "whsec_test_0123456789abcdef"


def make_plan(code: str = "starter", *, currency: str = "XOF", month: int = 5000, apps: list[str] | None = None,
              trial_days: int = 0) -> Plan:
    plan, _ = Plan.objects.get_or_create(code=code, defaults={
        "name": code.title(), "currency": currency, "price_month_minor": month, "price_year_minor": month * 10,
        "allowed_apps": apps or [], "trial_days": trial_days})
    return plan


def team_with_invoice(*, currency: str = "XOF", amount: int = 5000, app: str | None = None
                      ) -> tuple[Team, Subscription, Invoice]:
    """A team whose checkout left a finalized, unpaid invoice (the subscription waits for payment)."""
    user = make_user(f"owner-{secrets.token_hex(4)}@example.com")
    team = user.memberships.get().team  # type: ignore[attr-defined]
    account = billing_account_for(team)
    account.currency, account.country = currency, "CI" if currency == "XOF" else "FR"
    account.save()
    plan = make_plan(f"plan-{currency.lower()}-{amount}", currency=currency, month=amount,
                     apps=[app] if app else [])
    subscription = subscription_checkout(team=team, plan=plan, interval="month", actor="test", app=app)
    invoice = Invoice.objects.get(subscription=subscription)
    assert invoice.status == "finalized" and invoice.total_minor > 0
    return team, subscription, invoice


@pytest.fixture
def reference_gateway() -> Iterator[GatewayServer]:
    server = GatewayServer("127.0.0.1", 0, api_key=GATEWAY_KEY, webhook_secret=GATEWAY_SECRET,
                           retry_delays=(0.1, 0.2, 0.5, 1))
    server.start_in_thread()
    yield server
    server.stop()


@pytest.fixture
def payment_providers(settings, reference_gateway: GatewayServer) -> Iterator[dict]:
    settings.TENANTRY_PAYMENT_PROVIDERS = {
        "manual": {"BACKEND": "tenantry.billing.providers.manual.ManualProvider",
                   "OPTIONS": {"iban": "FR76 3000 6000 0112 3456 7890 189"}},
        "gateway": {"BACKEND": "tenantry.billing.providers.gateway.GatewayProvider",
                    "OPTIONS": {"base_url": reference_gateway.url, "api_key": GATEWAY_KEY,
                                "webhook_secret": GATEWAY_SECRET}},
        "stripe": {"BACKEND": "tenantry.billing.providers.stripe.StripeProvider",
                   "OPTIONS": {"api_key": "sk_test_unused", "webhook_secret": STRIPE_WHSEC}},
    }
    reset_backends()
    yield settings.TENANTRY_PAYMENT_PROVIDERS
    reset_backends()
