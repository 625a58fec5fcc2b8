"""Quotas: what a plan (plus active add-ons) includes per instance and period, what is used, and
the plan's policy once it is used up. Pure reads; the writes are in services/quotas.py.

Per limit, `Plan.usage_policies` says what happens at 100 %:
  {"traffic": {"policy": "bill_overage", "unit_price_minor": 200},
   "storage": {"policy": "block"}, "executions": {"policy": "notify"}}
`notify` (the default) only tells; `block` refuses what would use more (new instances; for
executions, activating workflows) with `quota_exceeded`; `bill_overage` invoices every unit
(started) above the included amount at `unit_price_minor` on the next renewal invoice;
`throttle` (traffic only) puts a rate limit on the instance's route (`requests`, default 5, per
`period_seconds`, default 1, plus `burst`, default 10) until the quota is no longer used up;
`suspend` suspends the instance `grace_days` (default 3) after the quota is used up, and resumes
it when it no longer is (next period, an add-on, a larger plan). Enforcement: services/enforcement.py.
GB are 10^9 bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, Decimal
from typing import Any

from tenantry.billing.entitlements import Limits
from tenantry.billing.models import Plan
from tenantry.core.errors import ValidationError
from tenantry.instances.models import Instance
from tenantry.metering.aggregation import aggregate
from tenantry.metering.meters import EXECUTIONS, STORAGE, TRAFFIC_IN, TRAFFIC_OUT, builtin_meters
from tenantry.metering.models import Meter, UsageEvent

THRESHOLDS = (80, 95, 100)
GB = Decimal(10) ** 9


class Policy:
    NOTIFY = "notify"
    BLOCK = "block"
    BILL_OVERAGE = "bill_overage"
    THROTTLE = "throttle"
    SUSPEND = "suspend"
    ALL = (NOTIFY, BLOCK, BILL_OVERAGE, THROTTLE, SUSPEND)


# The settings each policy accepts besides "policy": name -> default (None: required).
POLICY_SETTINGS: dict[str, dict[str, int | None]] = {
    Policy.NOTIFY: {}, Policy.BLOCK: {}, Policy.BILL_OVERAGE: {"unit_price_minor": None},
    Policy.THROTTLE: {"requests": 5, "period_seconds": 1, "burst": 10},
    Policy.SUSPEND: {"grace_days": 3},
}
THROTTLED_QUOTAS = ("traffic",)  # a rate limit on the route slows traffic, nothing else


@dataclass(frozen=True)
class QuotaKind:
    code: str
    label: str
    unit: str
    meters: tuple[str, ...]
    divisor: Decimal  # raw meter units per quota unit
    included: Callable[[Plan, Limits, Instance], int | None]


QUOTAS = {
    "traffic": QuotaKind("traffic", "Traffic", "GB", (TRAFFIC_IN, TRAFFIC_OUT), GB,
                         lambda plan, limits, instance: limits.traffic_gb_month),
    "storage": QuotaKind("storage", "Storage", "GB", (STORAGE,), GB,
                         lambda plan, limits, instance: limits.storage_gb),
    "executions": QuotaKind("executions", "Executions", "executions", (EXECUTIONS,), Decimal(1),
                            lambda plan, limits, instance: _app_limit(plan, instance.app, "executions_month")),
}


def _app_limit(plan: Plan, app: str, key: str) -> int | None:
    value = (plan.app_limits or {}).get(app, {}).get(key)
    return int(value) if value is not None else None


def validate_usage_policies(policies: Any) -> None:
    """Refuse a plan's policies that name an unknown limit or policy, or overage without a price."""
    if not isinstance(policies, dict):
        raise ValidationError("Usage policies must be an object keyed by limit.", details={"field": "usage_policies"})
    for code, entry in policies.items():
        if code not in QUOTAS:
            raise ValidationError(f"Unknown limit {code!r} (one of {', '.join(QUOTAS)}).",
                                  details={"field": "usage_policies", "limit": code})
        policy = entry.get("policy") if isinstance(entry, dict) else None
        if policy not in Policy.ALL:
            raise ValidationError(f"{code}: policy must be one of {', '.join(Policy.ALL)}.",
                                  details={"field": "usage_policies", "limit": code})
        if policy == Policy.THROTTLE and code not in THROTTLED_QUOTAS:
            raise ValidationError(f"{code}: throttle applies to {', '.join(THROTTLED_QUOTAS)} only.",
                                  details={"field": "usage_policies", "limit": code})
        allowed = POLICY_SETTINGS[policy]
        for name, value in entry.items():
            if name == "policy":
                continue
            if name not in allowed:
                raise ValidationError(f"{code}: {policy} has no setting {name!r}.",
                                      details={"field": "usage_policies", "limit": code, "setting": name})
            minimum = 0 if name == "grace_days" else 1
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise ValidationError(f"{code}: {name} must be an integer of at least {minimum}.",
                                      details={"field": "usage_policies", "limit": code, "setting": name})
        missing = [name for name, default in allowed.items() if default is None and name not in entry]
        if missing:
            raise ValidationError(f"{code}: {policy} needs a positive integer {missing[0]}.",
                                  details={"field": "usage_policies", "limit": code, "setting": missing[0]})


def policy_of(plan: Plan, code: str) -> dict[str, Any]:
    """The limit's policy with every setting filled in (defaults for those the plan omits)."""
    entry = (plan.usage_policies or {}).get(code) or {}
    if entry.get("policy") not in Policy.ALL:
        return {"policy": Policy.NOTIFY}
    defaults = {k: v for k, v in POLICY_SETTINGS[entry["policy"]].items() if v is not None}
    return {**defaults, **entry}


@dataclass(frozen=True)
class QuotaStatus:
    code: str
    label: str
    unit: str
    used: Decimal  # in quota units (GB, executions)
    included: Decimal
    policy: str
    unit_price_minor: int | None
    period_start: datetime
    period_end: datetime

    @property
    def percent(self) -> int:
        if self.included <= 0:
            return 100 if self.used > 0 else 0
        return int((self.used * 100 / self.included).to_integral_value(rounding="ROUND_FLOOR"))

    @property
    def bar_percent(self) -> int:
        return min(self.percent, 100)

    @property
    def over_units(self) -> int:
        """Units (started) above the included amount."""
        over = self.used - self.included
        return int(over.to_integral_value(rounding=ROUND_CEILING)) if over > 0 else 0

    @property
    def reached(self) -> list[int]:
        return [t for t in THRESHOLDS if self.percent >= t]


def quota_used(kind: QuotaKind, instance: Instance, start: datetime, end: datetime,
               meters: dict[str, Meter]) -> Decimal:
    total = Decimal(0)
    for code in kind.meters:
        meter = meters[code]
        events = UsageEvent.objects.filter(team_id=instance.team_id, instance=instance, meter=meter)
        total += aggregate(meter, events, start, end)
    return total / kind.divisor


def instance_quotas(instance: Instance, *, plan: Plan, limits: Limits, start: datetime,
                    end: datetime) -> list[QuotaStatus]:
    """Every quota the plan sets for this instance's app over [start, end)."""
    meters = builtin_meters()
    statuses = []
    for kind in QUOTAS.values():
        included = kind.included(plan, limits, instance)
        if included is None:
            continue
        policy = policy_of(plan, kind.code)
        statuses.append(QuotaStatus(
            code=kind.code, label=kind.label, unit=kind.unit, used=quota_used(kind, instance, start, end, meters),
            included=Decimal(included), policy=policy["policy"], unit_price_minor=policy.get("unit_price_minor"),
            period_start=start, period_end=end))
    return statuses
