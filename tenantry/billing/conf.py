"""Billing settings: `settings.TENANTRY_BILLING` overrides these defaults key by key."""

from __future__ import annotations

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    "SELLER": {"name": "", "address": "", "vat_id": "", "email": ""},
    "INVOICE_SERIES": "INV",
    "CREDIT_NOTE_SERIES": "CN",
    "PAYMENT_TERMS_DAYS": 0,
    # Dunning: retries this many days after the first failure; past due at the first failure;
    # suspended `SUSPEND_AFTER_DAYS` after it; archived `ARCHIVE_AFTER_DAYS` after suspension;
    # volumes and the final backup deleted `DELETE_AFTER_DAYS` after archiving.
    "RETRY_DAYS": [1, 3, 5],
    "SUSPEND_AFTER_DAYS": 7,
    "ARCHIVE_AFTER_DAYS": 30,
    "DELETE_AFTER_DAYS": 90,
    "ADDON_DAYS": 30,
    # A checkout whose first invoice is still unpaid after this many days is cancelled (its
    # invoice voided), so that the team can choose a plan again.
    "INCOMPLETE_EXPIRE_DAYS": 7,
    "RUN_BATCH_SIZE": 500,
}


def billing_setting(name: str) -> Any:
    return {**DEFAULTS, **getattr(settings, "TENANTRY_BILLING", {})}[name]
