from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tenantry.billing.money import (
    MoneyError,
    allocate,
    exponent,
    format_money,
    invoice_totals,
    percent_of,
    to_major,
    to_minor,
)
from tenantry.billing.periods import period_at, period_boundary, prorate

amounts = st.integers(min_value=-10**9, max_value=10**9)
percents = st.decimals(min_value=0, max_value=100, places=2)
zones = st.sampled_from(["UTC", "Europe/Paris", "Africa/Abidjan", "America/New_York", "Pacific/Chatham"])
moments = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC))


def test_exponents_and_rounding() -> None:
    assert exponent("EUR") == 2 and exponent("XOF") == 0 and exponent("XAF") == 0 and exponent("KWD") == 3
    assert to_minor("29.995", "EUR") == 3000  # half up, not banker's rounding
    assert to_minor("0.125", "EUR") == 13
    assert to_minor("1499.5", "XOF") == 1500
    assert to_minor("-0.005", "EUR") == -1
    assert format_money(2900, "EUR") == "29.00 €"
    assert format_money(15000, "XOF") == "15,000 FCFA"
    with pytest.raises(MoneyError):
        exponent("eur")


@given(lines=st.lists(amounts, max_size=30), percent=percents)
def test_invoice_total_is_sum_of_rounded_lines_plus_one_tax(lines: list[int], percent: Decimal) -> None:
    totals = invoice_totals(lines, percent)
    assert totals.subtotal_minor == sum(lines)
    expected_tax = percent_of(sum(lines), percent) if sum(lines) > 0 else 0
    assert totals.tax_minor == expected_tax
    assert totals.total_minor == sum(lines) + totals.tax_minor
    assert abs(totals.tax_minor - sum(lines) * percent / 100) <= Decimal("0.5") or sum(lines) <= 0


@given(amount=st.integers(min_value=0, max_value=10**8), start=moments, length=st.integers(3600, 400 * 86400),
       cuts=st.lists(st.floats(min_value=0, max_value=1), min_size=1, max_size=5))
def test_proration_over_any_split_sums_to_the_full_period(amount: int, start: datetime, length: int,
                                                          cuts: list[float]) -> None:
    end = start + timedelta(seconds=length)
    points = sorted({start + timedelta(seconds=int(length * c)) for c in cuts} | {start, end})
    parts = [prorate(amount, start, end, a, b) for a, b in itertools.pairwise(points)]
    assert sum(parts) == amount
    assert all(0 <= p <= amount for p in parts)


@given(amount=st.integers(min_value=0, max_value=10**8), start=moments, length=st.integers(3600, 400 * 86400),
       a=st.floats(0, 1), b=st.floats(0, 1))
def test_proration_of_a_pair_of_dates_and_its_complement(amount: int, start: datetime, length: int,
                                                         a: float, b: float) -> None:
    end = start + timedelta(seconds=length)
    x, y = sorted([start + timedelta(seconds=int(length * a)), start + timedelta(seconds=int(length * b))])
    used = prorate(amount, start, end, start, x) + prorate(amount, start, end, y, end)
    assert used + prorate(amount, start, end, x, y) == amount
    exact = Decimal(amount) * Decimal(int((y - x).total_seconds())) / Decimal(length)
    assert abs(prorate(amount, start, end, x, y) - exact) <= 1


@given(amount=st.decimals(min_value=-10**6, max_value=10**6, places=4), percent=percents,
       weights=st.lists(st.integers(0, 1000), min_size=1, max_size=10).filter(lambda w: sum(w) > 0))
def test_zero_decimal_currencies_never_have_fractions(amount: Decimal, percent: Decimal, weights: list[int]) -> None:
    minor = to_minor(amount, "XOF")
    assert isinstance(minor, int)
    assert to_major(minor, "XOF") == Decimal(minor)
    assert "." not in format_money(minor, "XOF")
    assert isinstance(percent_of(minor, percent), int)
    parts = allocate(minor, weights)
    assert sum(parts) == minor and all(isinstance(p, int) for p in parts)


@settings(max_examples=200)
@given(anchor=moments, tz=zones, index=st.integers(0, 60))
def test_periods_are_contiguous_and_clamped(anchor: datetime, tz: str, index: int) -> None:
    start = period_boundary(anchor, index, "month", tz)
    end = period_boundary(anchor, index + 1, "month", tz)
    assert start < end
    assert start.tzinfo is not None and end.utcoffset() == timedelta(0)
    assert period_at(anchor, start, "month", tz) == (index, start, end)
    assert period_at(anchor, end - timedelta(seconds=1), "month", tz)[0] == index


def test_month_end_anchor_clamps_and_comes_back() -> None:
    anchor = datetime(2028, 1, 31, 12, tzinfo=UTC)
    days = [period_boundary(anchor, i, "month", "UTC").date().isoformat() for i in range(4)]
    assert days == ["2028-01-31", "2028-02-29", "2028-03-31", "2028-04-30"]
    assert period_boundary(datetime(2028, 2, 29, tzinfo=UTC), 1, "year", "UTC").date().isoformat() == "2029-02-28"


def test_periods_follow_the_customer_time_zone() -> None:
    # Midnight in Paris on the 1st: the UTC instant shifts by an hour when DST starts, the local time does not.
    anchor = datetime(2026, 1, 31, 23, tzinfo=UTC)  # 2026-02-01 00:00 Paris
    assert period_boundary(anchor, 1, "month", "Europe/Paris") == datetime(2026, 2, 28, 23, tzinfo=UTC)
    assert period_boundary(anchor, 3, "month", "Europe/Paris") == datetime(2026, 4, 30, 22, tzinfo=UTC)


def test_allocate_is_exact_and_deterministic() -> None:
    assert allocate(100, [1, 1, 1]) == [34, 33, 33]
    assert allocate(-100, [1, 1, 1]) == [-34, -33, -33]
    assert allocate(5, [0, 2, 3]) == [0, 2, 3]
