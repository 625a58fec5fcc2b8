"""What the dashboard and the API show for a custom domain: the records to create, the address."""

from __future__ import annotations

from typing import Any

from django.conf import settings

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


def domain_view(row: CustomDomain) -> dict[str, Any]:
    return {"domain": row.domain, "instance": row.instance.slug, "status": row.status, "url": domain_url(row),
            "records": dns_records(row), "problems": row.problems, "checked_at": row.checked_at,
            "verified_at": row.verified_at, "created_at": row.created_at}
