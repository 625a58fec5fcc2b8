"""Reads of custom domains, scoped to the team."""

from __future__ import annotations

from django.db.models import QuerySet

from tenantry.accounts.models import Team
from tenantry.core.errors import NotFound
from tenantry.instances.models import Instance, Status
from tenantry.instances.naming import instance_hosts
from tenantry.routing.models import CustomDomain, DomainStatus


def domain_list(*, team: Team, instance: Instance) -> QuerySet[CustomDomain]:
    return CustomDomain.objects.filter(team=team, instance=instance).select_related("instance")


def domain_get(*, team: Team, instance: Instance, domain: str) -> CustomDomain:
    row = domain_list(team=team, instance=instance).filter(domain=domain.strip().rstrip(".").lower()).first()
    if row is None:
        raise NotFound(f"No domain {domain!r} on {instance.slug}.", code="domain_not_found")
    return row


def verified_hosts(instance: Instance) -> list[str]:
    """The instance's verified custom domains (not team-scoped: the proxy's routes and the
    edge's host check need them)."""
    return list(CustomDomain.objects.filter(instance=instance, status=DomainStatus.VERIFIED)
                .order_by("domain").values_list("domain", flat=True))


def public_host(instance: Instance) -> str:
    """Where the instance's users reach it: its first verified custom domain, else its own host.
    The app's settings that hold its public URL follow it (`{{ instance.public_url }}`)."""
    first = (CustomDomain.objects.filter(instance=instance, status=DomainStatus.VERIFIED)
             .order_by("verified_at", "domain").values_list("domain", flat=True).first())
    return first or instance.host


def public_url(instance: Instance) -> str:
    host = public_host(instance)
    return instance.url.replace(f"://{instance.host}", f"://{host}", 1)


def route_hosts(instance: Instance, verified: dict[str, list[str]] | None = None) -> tuple[str, ...]:
    """Every host name the proxy routes to the instance: its own, then its verified custom
    domains. `verified`: verified_hosts_by_instance() when routing many instances at once."""
    custom = verified.get(str(instance.pk), []) if verified is not None else verified_hosts(instance)
    return (*instance_hosts(instance.slug), *custom)


def verified_hosts_by_instance() -> dict[str, list[str]]:
    """Verified custom domains of every live instance, by instance id (one query)."""
    hosts: dict[str, list[str]] = {}
    rows = (CustomDomain.objects.filter(status=DomainStatus.VERIFIED).exclude(instance__status=Status.DELETED)
            .order_by("domain").values_list("instance_id", "domain"))
    for instance_id, domain in rows:
        hosts.setdefault(str(instance_id), []).append(domain)
    return hosts
