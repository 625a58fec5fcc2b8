from __future__ import annotations

from datetime import datetime

from ninja import Schema
from pydantic import Field


class DomainIn(Schema):
    domain: str = Field(min_length=3, max_length=253, examples=["flows.example.com"])


class DnsRecordOut(Schema):
    type: str
    name: str
    value: str
    why: str


class CertificateOut(Schema):
    state: str = Field(description="waiting (DNS not verified), pending, active, failed, or none (plain HTTP)")
    message: str
    not_after: datetime | None


class DomainOut(Schema):
    domain: str
    instance: str
    status: str
    url: str
    records: list[DnsRecordOut]
    problems: list[dict]
    checked_at: datetime | None
    verified_at: datetime | None
    created_at: datetime
    certificate: CertificateOut | None
