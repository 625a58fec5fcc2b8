from __future__ import annotations

from datetime import date, datetime
from typing import Any

from ninja import Field, Schema


class UsageBatchIn(Schema):
    # Items are checked one by one by the service, so that a refusal names the item's index.
    events: list[dict[str, Any]]


class UsageBatchOut(Schema):
    accepted: int
    duplicates: int


class QuotaOut(Schema):
    code: str
    label: str
    unit: str
    used: str
    included: str
    percent: int
    policy: str
    period_start: datetime
    period_end: datetime


class InstanceUsageOut(Schema):
    instance: str
    quotas: list[QuotaOut]
    # The automation counters this endpoint served before metering (kept for existing clients).
    executions_this_month: int = Field(description="Executions copied from the app this calendar month (UTC)")
    executions_limit: int | None = Field(description="The plan's executions / month, when it sets one")
    month_start: datetime


class DayOut(Schema):
    day: date
    value: str


class QuotaReportOut(QuotaOut):
    projected_used: str = Field(description="Use expected at the period's end at the pace so far (gauges: as now)")
    projected_overage_minor: int = Field(description="What that use above the plan would cost (bill_overage limits)")
    daily: list[DayOut] = Field(description="One value per day of the period so far, in the team's time zone")


class InstanceReportOut(Schema):
    instance: str
    app: str
    quotas: list[QuotaReportOut]


class TeamTotalOut(Schema):
    code: str
    label: str
    unit: str
    used: str
    included: str
    percent: int
    projected_overage_minor: int


class UsageReportOut(Schema):
    period_start: datetime | None
    period_end: datetime | None
    currency: str
    projected_overage_minor: int
    totals: list[TeamTotalOut]
    instances: list[InstanceReportOut]
