"""What the dashboard and the API show for a custom domain: the records to create, the address."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from tenantry.routing.certificates import certificate_status
from tenantry.routing.models import CustomDomain


def dns_records(row: CustomDomain) -> list[dict[str, str]]:
    return [
        {"type": "CNAME", "name": row.domain, "value": row.instance.host,
         "why": "sends the domain's visitors to the instance"},
        {"type": "TXT", "name": row.ownership_record, "value": row.token,
         "why": "proves that your team controls the domain"},
    ]


def domain_url(row: CustomDomain) -> str:
    conf = settings.TENANTRY
    scheme = conf["PUBLIC_SCHEME"]
    port = str(conf["PUBLIC_PORT"] or "")
    suffix = f":{port}" if port and port != {"http": "80", "https": "443"}[scheme] else ""
    return f"{scheme}://{row.domain}{suffix}"


def certificate_view(row: CustomDomain) -> dict[str, Any]:
    if not row.verified:
        return {"state": "waiting", "message": "Issued once the DNS records are verified.", "not_after": None}
    status = certificate_status(row.domain, since=row.verified_at)
    return {"state": status.state, "message": status.message, "not_after": status.not_after}


def domain_view(row: CustomDomain, *, with_certificate: bool = True) -> dict[str, Any]:
    """`with_certificate`: ask the proxy which certificate it serves (a TLS handshake per domain)."""
    return {"domain": row.domain, "instance": row.instance.slug, "status": row.status, "url": domain_url(row),
            "records": dns_records(row), "problems": row.problems, "checked_at": row.checked_at,
            "verified_at": row.verified_at, "created_at": row.created_at,
            "certificate": certificate_view(row) if with_certificate else None}
