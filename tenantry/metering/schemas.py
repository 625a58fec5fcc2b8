from __future__ import annotations

from datetime import datetime
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
