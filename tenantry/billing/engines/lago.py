"""Lago as the billing engine (optional: active when settings.LAGO_API_URL is set).

Tenantry stays the source of truth for teams, plans and subscriptions and pushes them to Lago
with `lago-python-client` (customers: external_id = team id; plans: `<code>-month` /
`<code>-year`; subscriptions: external_id = subscription id). Lago invoices and collects, and
tells us by webhook; the webhook drives the same lifecycle as the built-in engine:

- `subscription.started` -> the instance is provisioned,
- `subscription.terminated` -> the team's instances are archived,
- `invoice.payment_status_updated` (succeeded) -> paid: a suspended team resumes,
- `invoice.payment_failure` -> the customer is notified and dunning suspends per policy.

Webhooks are verified (`X-Lago-Signature`: an RS256 JWT checked with Lago's public key, or a
base64 HMAC-SHA256 of the body keyed with the API key) and deduplicated by what the signature
covers: the event's type, its object's Lago id and the state it reports. `X-Lago-Unique-Key` is
not signed, so a captured "paid" event sent again with a fresh key is still the same event and is
never applied twice. Lago's public key is fetched once per process and kept.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

import jwt
from django.conf import settings
from django.db import IntegrityError, transaction
from lago_python_client.client import Client
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models.customer import Customer
from lago_python_client.models.plan import Plan as LagoPlan
from lago_python_client.models.subscription import Subscription as LagoSubscription

from tenantry.accounts.models import Team
from tenantry.billing.models import Plan, ProcessedWebhook, Subscription
from tenantry.billing.providers.base import BackendError, InvalidSignature, TransientBackendError, header
from tenantry.core.audit import audit_log

logger = logging.getLogger(__name__)
ACTOR = "lago-webhook"
_INTERVALS = {"month": "monthly", "year": "yearly"}


# Lago's public key per API URL, fetched at the first JWT webhook (Lago recommends keeping it).
_PUBLIC_KEYS: dict[str, str] = {}
_PUBLIC_KEYS_LOCK = threading.Lock()
# The fields that carry an object's state in Lago's webhook payloads.
_STATE_FIELDS = ("payment_status", "status")


class LagoNotConfigured(Exception):
    pass


def _model(cls: Any, **fields: Any) -> Any:
    """Build a request model of the client; unset optional fields are left out of the JSON."""
    return cls(**fields)


def lago_plan_code(plan: Plan, interval: str) -> str:
    return f"{plan.code}-{interval}"


class LagoEngine:
    def __init__(self, *, api_url: str, api_key: str, signature: str = "jwt", public_key_b64: str = "",
                 issuer: str = ""):
        if signature not in ("jwt", "hmac"):
            raise ValueError("LAGO_WEBHOOK_SIGNATURE must be jwt or hmac")
        self.api_url = api_url.rstrip("/")
        self._api_key = api_key
        self.signature = signature
        self._public_key_b64 = public_key_b64
        # Lago signs with its own API URL as the issuer ("https://api.getlago.com" on Lago cloud).
        self.issuer = issuer or self.api_url
        # Typed loosely: the client's pydantic-v1 models and mixin generics confuse mypy.
        self.client: Any = Client(api_key=api_key, api_url=self.api_url + "/")

    def __repr__(self) -> str:
        return f"<LagoEngine {self.api_url} signature={self.signature}>"

    @classmethod
    def from_settings(cls) -> LagoEngine:
        if not getattr(settings, "LAGO_API_URL", ""):
            raise LagoNotConfigured()
        return cls(api_url=settings.LAGO_API_URL, api_key=settings.LAGO_API_KEY,
                   signature=settings.LAGO_WEBHOOK_SIGNATURE, public_key_b64=settings.LAGO_PUBLIC_KEY,
                   issuer=getattr(settings, "LAGO_WEBHOOK_ISSUER", ""))

    # --- sync (Tenantry -> Lago) ------------------------------------------------------------

    def _call(self, what: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except LagoApiError as exc:
            logger.warning("lago call failed", extra={"what": what, "status": exc.status_code})
            if exc.status_code >= 500 or exc.status_code == 429:
                raise TransientBackendError(f"Lago is unavailable ({what}: HTTP {exc.status_code})") from None
            raise BackendError(f"Lago refused {what} (HTTP {exc.status_code})", code="lago_refused") from None
        except Exception as exc:  # httpx transport errors and the client's own checks
            if exc.__class__.__module__.startswith("httpx"):
                raise TransientBackendError(f"Lago is unreachable ({what}: {exc.__class__.__name__})") from None
            raise

    def sync_customer(self, team: Team) -> str:
        """Create or update the team's customer in Lago (Lago upserts on external_id)."""
        from tenantry.billing.services import billing_account_for

        account = billing_account_for(team)
        customer = _model(Customer,
            external_id=str(team.pk), name=account.legal_name or team.name, email=account.billing_email or None,
            country=account.country or None, currency=account.currency, timezone=account.time_zone,
            tax_identification_number=account.vat_id or None, address_line1=account.address_line1 or None,
            address_line2=account.address_line2 or None, zipcode=account.postal_code or None,
            city=account.city or None, phone=account.phone or None)
        result = self._call("customer sync", lambda: self.client.customers.create(customer))
        return str(result.lago_id) if result is not None else ""

    def sync_plan(self, plan: Plan) -> list[str]:
        """One Lago plan per priced interval; created, or updated when the code exists."""
        codes = []
        for interval, lago_interval in _INTERVALS.items():
            price = plan.price_for(interval)
            if price is None:
                continue
            code = lago_plan_code(plan, interval)
            body = _model(LagoPlan,name=f"{plan.name} ({lago_interval})", code=code, interval=lago_interval,
                            description=plan.description or None, amount_cents=price, amount_currency=plan.currency,
                            trial_period=float(plan.trial_days), pay_in_advance=True)
            try:
                self._call("plan sync", functools.partial(self.client.plans.create, body))
            except BackendError:  # the code exists (422): update it in place
                self._call("plan update", functools.partial(self.client.plans.update, body, code))
            codes.append(code)
        return codes

    def sync_subscription(self, subscription: Subscription) -> None:
        """Create the subscription in Lago, or change its plan (same external_id)."""
        self.sync_customer(subscription.team)
        body = _model(LagoSubscription,external_customer_id=str(subscription.team_id),
                                plan_code=lago_plan_code(subscription.plan, subscription.interval),
                                external_id=str(subscription.pk), name=subscription.plan.name,
                                subscription_at=subscription.created_at.isoformat(), billing_time="anniversary")
        self._call("subscription sync", lambda: self.client.subscriptions.create(body))

    def terminate_subscription(self, subscription: Subscription) -> None:
        self._call("subscription terminate", lambda: self.client.subscriptions.destroy(str(subscription.pk)))

    # --- webhooks (Lago -> Tenantry) --------------------------------------------------------

    def _public_key(self) -> bytes:
        if not self._public_key_b64:
            # Lago serves the key base64-encoded; fetched once per process, then kept (as Lago
            # recommends): an engine is built per request, the key is not fetched per request.
            with _PUBLIC_KEYS_LOCK:
                if self.api_url not in _PUBLIC_KEYS:
                    key: bytes = self._call("public key", lambda: self.client.webhooks.public_key())
                    _PUBLIC_KEYS[self.api_url] = base64.b64encode(key).decode()
                self._public_key_b64 = _PUBLIC_KEYS[self.api_url]
        return base64.b64decode(self._public_key_b64)

    def verify(self, body: bytes, headers: Mapping[str, str]) -> None:
        signature = header(headers, "X-Lago-Signature")
        if not signature:
            raise InvalidSignature("missing X-Lago-Signature")
        if self.signature == "hmac":
            expected = base64.b64encode(hmac.new(self._api_key.encode(), body, hashlib.sha256).digest())
            if not hmac.compare_digest(expected, signature.encode()):
                raise InvalidSignature("Lago HMAC signature does not match")
            return
        try:
            claims = jwt.decode(signature, self._public_key(), algorithms=["RS256"], issuer=self.issuer,
                                options={"require": ["iss", "data"]})
        except jwt.PyJWTError as exc:
            raise InvalidSignature(f"Lago JWT rejected ({exc.__class__.__name__})") from None
        signed = claims.get("data")
        if not isinstance(signed, str) or not hmac.compare_digest(signed.encode(), body):
            raise InvalidSignature("Lago JWT does not sign this body")

    def handle_webhook(self, body: bytes, headers: Mapping[str, str]) -> bool:
        """Verify, deduplicate and apply one webhook; True when it changed something."""
        self.verify(body, headers)
        try:
            payload = json.loads(body)
            webhook_type = str(payload["webhook_type"])
        except (ValueError, KeyError, TypeError):
            raise InvalidSignature("unreadable Lago payload") from None
        if not isinstance(payload, dict):
            raise InvalidSignature("unreadable Lago payload")
        event_id = signed_event_id(payload, body)
        with transaction.atomic():
            try:
                with transaction.atomic():
                    ProcessedWebhook.objects.create(source="lago", event_id=event_id, event_type=webhook_type[:100])
            except IntegrityError:
                logger.info("lago webhook already processed", extra={
                    "event_id": event_id, "unique_key": header(headers, "X-Lago-Unique-Key")})
                return False
            handler = _HANDLERS.get(webhook_type)
            return bool(handler(payload)) if handler else False


def signed_event_id(payload: Mapping[str, Any], body: bytes) -> str:
    """The identity of a webhook, from the signed body only: its type, its object's Lago id and
    the state it reports (a second "paid" for one invoice is the same event, whatever unsigned
    header comes with it). Bodies without an identifiable object fall back to their digest."""
    webhook_type = str(payload.get("webhook_type", ""))
    obj = payload.get(str(payload.get("object_type") or "")) or {}
    if not isinstance(obj, Mapping):
        obj = {}
    lago_id = obj.get("lago_id") or obj.get("lago_invoice_id")
    if not lago_id:
        return "body:" + hashlib.sha256(body).hexdigest()
    state = [str(obj.get(name)) for name in _STATE_FIELDS if obj.get(name) is not None]
    error = obj.get("provider_error")
    if isinstance(error, Mapping):  # a failed charge: which failure (Lago retries a charge)
        state.append(hashlib.sha256(json.dumps(error, sort_keys=True).encode()).hexdigest()[:16])
    identity = ":".join([webhook_type, str(lago_id), *state])
    return identity if len(identity) <= 255 else "sha256:" + hashlib.sha256(identity.encode()).hexdigest()


def _subscription(payload: Mapping[str, Any]) -> Subscription | None:
    external_id = str((payload.get("subscription") or {}).get("external_id") or "")
    try:
        return Subscription.objects.select_related("team", "plan").filter(pk=external_id).first()
    except Exception:  # not a UUID: not one of ours
        return None


def _subscription_started(payload: Mapping[str, Any]) -> bool:
    from tenantry.billing.services import subscription_start_service

    subscription = _subscription(payload)
    if subscription is None:
        return False
    audit_log(actor=ACTOR, action="lago.subscription_started", target=subscription,
              data={"lago_id": payload["subscription"].get("lago_id")})
    subscription_start_service(subscription=subscription, actor=ACTOR)
    return True


def _subscription_terminated(payload: Mapping[str, Any]) -> bool:
    from tenantry.billing.services import subscription_terminate

    subscription = _subscription(payload)
    if subscription is None:
        return False
    subscription_terminate(subscription=subscription, actor=ACTOR, reason="terminated in Lago")
    return True


def _team_of_invoice(obj: Mapping[str, Any]) -> Team | None:
    customer = obj.get("customer") or {}
    external = str(customer.get("external_id") or obj.get("external_customer_id") or "")
    try:
        return Team.objects.filter(pk=external).first()
    except Exception:
        return None


def _invoice_payment_status(payload: Mapping[str, Any]) -> bool:
    from tenantry.billing import services

    invoice = payload.get("invoice") or {}
    if invoice.get("payment_status") != "succeeded":
        return False
    team = _team_of_invoice(invoice)
    if team is None:
        return False
    audit_log(actor=ACTOR, action="lago.invoice_paid", target=team,
              data={"lago_invoice": invoice.get("lago_id"), "number": invoice.get("number"),
                    "total_amount_cents": invoice.get("total_amount_cents"), "currency": invoice.get("currency")})
    services.engine_payment_succeeded(team=team, actor=ACTOR,
                                      reference=str(invoice.get("number") or invoice.get("lago_id") or ""))
    return True


def _invoice_payment_failure(payload: Mapping[str, Any]) -> bool:
    from tenantry.billing import services

    error = payload.get("payment_provider_invoice_payment_error") or {}
    team = _team_of_invoice(error)
    if team is None:
        return False
    message = str((error.get("provider_error") or {}).get("message") or "payment failed")
    audit_log(actor=ACTOR, action="lago.invoice_payment_failure", target=team,
              data={"lago_invoice": error.get("lago_invoice_id"), "message": message[:200]})
    services.engine_payment_failed(team=team, actor=ACTOR, reason=message)
    return True


_HANDLERS: dict[str, Callable[[Mapping[str, Any]], bool]] = {
    "subscription.started": _subscription_started,
    "subscription.terminated": _subscription_terminated,
    "invoice.payment_status_updated": _invoice_payment_status,
    "invoice.payment_failure": _invoice_payment_failure,
}
