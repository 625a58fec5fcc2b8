"""Money as integer minor units + ISO 4217 code; Decimal with explicit ROUND_HALF_UP where rounding happens.

Rules (DESIGN.md "Money"): round per line, tax once per invoice on the sum of the rounded lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

# ISO 4217 exponents that differ from 2 (the default). Zero-decimal currencies never get a fraction.
_EXPONENTS: dict[str, int] = {
    "XOF": 0, "XAF": 0, "JPY": 0, "KRW": 0, "GNF": 0, "RWF": 0, "UGX": 0, "VND": 0, "XPF": 0, "CLP": 0,
    "BIF": 0, "DJF": 0, "KMF": 0, "MGA": 0, "PYG": 0, "VUV": 0,
    "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3, "LYD": 3, "IQD": 3,
}
_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "XOF": "FCFA", "XAF": "FCFA"}


class MoneyError(ValueError):
    pass


def check_currency(currency: str) -> str:
    if len(currency) != 3 or not currency.isalpha() or not currency.isupper():
        raise MoneyError(f"not an ISO 4217 code: {currency!r}")
    return currency


def exponent(currency: str) -> int:
    return _EXPONENTS.get(check_currency(currency), 2)


def round_half_up(value: Decimal) -> int:
    """Nearest integer, halves away from zero (what accountants expect, unlike banker's rounding)."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def to_minor(amount: Decimal | str | int, currency: str) -> int:
    """A major-unit amount ("29.99" EUR) to minor units (2999), rounded half up."""
    return round_half_up(Decimal(amount) * (Decimal(10) ** exponent(currency)))


def to_major(amount_minor: int, currency: str) -> Decimal:
    e = exponent(currency)
    return (Decimal(amount_minor) / (Decimal(10) ** e)).quantize(Decimal(1).scaleb(-e))


def format_money(amount_minor: int, currency: str) -> str:
    """`29.00 €`, `1,500 FCFA`, `-3.50 €` — for PDFs and emails (no locale dependency)."""
    e = exponent(currency)
    major = to_major(amount_minor, currency)
    text = f"{major:,.{e}f}"
    return f"{text} {_SYMBOLS.get(currency, currency)}"


def percent_of(amount_minor: int, percent: Decimal | int | str) -> int:
    """`percent`% of an amount, rounded half up to a whole minor unit."""
    return round_half_up(Decimal(amount_minor) * Decimal(percent) / Decimal(100))


@dataclass(frozen=True)
class Totals:
    subtotal_minor: int
    tax_minor: int
    total_minor: int


def invoice_totals(line_amounts: Sequence[int], tax_percent: Decimal | int | str) -> Totals:
    """Sum of the (already rounded) lines, then tax rounded once on that sum; never negative tax."""
    subtotal = sum(line_amounts)
    tax = percent_of(subtotal, tax_percent) if subtotal > 0 else 0
    return Totals(subtotal_minor=subtotal, tax_minor=tax, total_minor=subtotal + tax)


def allocate(total_minor: int, weights: Sequence[int]) -> list[int]:
    """Split an amount by integer weights so the parts sum exactly to it (largest remainder, ties by position)."""
    if not weights or sum(weights) <= 0 or any(w < 0 for w in weights):
        raise MoneyError("weights must be non-negative with a positive sum")
    weight_sum = sum(weights)
    sign = -1 if total_minor < 0 else 1
    amount = abs(total_minor)
    parts = [amount * w // weight_sum for w in weights]
    remainders = [(amount * w % weight_sum, -i) for i, w in enumerate(weights)]
    for _, neg_index in sorted(remainders, reverse=True)[: amount - sum(parts)]:
        parts[-neg_index] += 1
    return [sign * p for p in parts]
