"""Reads of custom domains, scoped to the team."""

from __future__ import annotations

from django.db.models import QuerySet

from tenantry.accounts.models import Team
from tenantry.core.errors import NotFound
from tenantry.instances.models import Instance, Status
from tenantry.routing.models import CustomDomain, DomainStatus


def domain_list(*, team: Team, instance: Instance) -> QuerySet[CustomDomain]:
    return CustomDomain.objects.filter(team=team, instance=instance).select_related("instance")


def domain_get(*, team: Team, instance: Instance, domain: str) -> CustomDomain:
    row = domain_list(team=team, instance=instance).filter(domain=domain.strip().rstrip(".").lower()).first()
    if row is None:
        raise NotFound(f"No domain {domain!r} on {instance.slug}.", code="domain_not_found")
    return row


def verified_hosts(slug: str) -> list[str]:
    """The verified custom domains of the live instance with this slug (not team-scoped: the
    proxy's routes and the edge's host check need them)."""
    return list(CustomDomain.objects.filter(instance__slug=slug, status=DomainStatus.VERIFIED)
                .exclude(instance__status=Status.DELETED).order_by("domain").values_list("domain", flat=True))
