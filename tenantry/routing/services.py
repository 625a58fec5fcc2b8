"""Custom domains: add (with the DNS records to create), verify (DNS lookups), remove.

A verified domain joins its instance's route (tenantry.instances.naming.instance_hosts reads it),
so the proxy serves the app there and obtains the domain's certificate by HTTP-01; the route is
republished when the transaction commits. Adding, verifying and removing never stops the app.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from tenantry.accounts.models import Team
from tenantry.billing import entitlements
from tenantry.core.audit import audit_log
from tenantry.core.errors import ApplicationError, Conflict, ValidationError
from tenantry.instances.models import Instance, Status
from tenantry.routing.dns import check_domain
from tenantry.routing.models import CustomDomain, DomainStatus
from tenantry.routing.selectors import public_host

_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


class InvalidDomain(ValidationError):
    code = "invalid_domain"


class DomainTaken(Conflict):
    code = "domain_taken"


class DomainNotVerified(ApplicationError):
    """The DNS records are missing or wrong; `details.problems` says which."""

    code = "domain_not_verified"
    status = 422


def normalize_domain(raw: str) -> str:
    """A host name a customer may point at an instance, lowercased; raises InvalidDomain."""
    domain = (raw or "").strip().rstrip(".").lower()
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError as error:
        raise InvalidDomain(f"{raw!r} is not a valid domain name.", details={"field": "domain"}) from error
    labels = domain.split(".")
    if len(domain) > 253 or len(labels) < 2 or not all(_LABEL.match(label) for label in labels) \
            or labels[-1].isdigit():
        raise InvalidDomain(f"{raw!r} is not a valid domain name (e.g. flows.example.com).",
                            details={"field": "domain"})
    base = settings.TENANTRY["BASE_DOMAIN"]
    dashboard = settings.TENANTRY["DASHBOARD_URL"].split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    if domain in (base, dashboard) or domain.endswith("." + base):
        raise InvalidDomain(f"{domain} belongs to this service; use a domain of your own.",
                            details={"field": "domain"})
    return domain


def ownership_token(team: Team, domain: str) -> str:
    """Stable per team and domain, and unguessable: another team cannot produce it."""
    digest = hmac.new(settings.SECRET_KEY.encode(), f"custom-domain:{team.pk}:{domain}".encode(), hashlib.sha256)
    return f"tenantry-verify={digest.hexdigest()[:40]}"


def _republish_on_commit(instance: Instance, *, address_before: str) -> None:
    """Route the instance's hosts again; when its public address changed, also give the app its
    new address (tenantry.instances.address)."""
    from tenantry.routing.tasks import readdress_task, republish_route_task

    instance_id = str(instance.pk)
    transaction.on_commit(lambda: republish_route_task(instance_id))
    if public_host(instance) != address_before:
        transaction.on_commit(lambda: readdress_task(instance_id))


@transaction.atomic
def domain_add(*, instance: Instance, domain: str, actor: str) -> CustomDomain:
    """Record a domain for the instance (pending) and the records to create; the plan decides
    how many domains a team may have."""
    domain = normalize_domain(domain)
    team = Team.objects.select_for_update().get(pk=instance.team_id)  # one slot, one claim at a time
    if instance.status in (Status.DELETED, Status.DELETING, Status.ARCHIVED, Status.ARCHIVING):
        raise Conflict(f"Instance {instance.slug!r} is {instance.status}.", code="invalid_state")
    # A deleted instance's domains are free again (instances are kept as rows once deleted).
    CustomDomain.objects.filter(domain=domain, instance__status=Status.DELETED).delete()
    existing = CustomDomain.objects.filter(instance=instance, domain=domain).first()
    if existing is not None:
        return existing  # adding twice is harmless
    if CustomDomain.objects.filter(domain=domain, status=DomainStatus.VERIFIED).exists():
        raise DomainTaken(f"{domain} is already in use by another instance.", details={"field": "domain"})
    entitlements.require_custom_domain(team=team, used=CustomDomain.objects.filter(team=team).count())
    row = CustomDomain.objects.create(team=team, instance=instance, domain=domain,
                                      token=ownership_token(team, domain))
    audit_log(actor=actor, action="domain.added", target=instance, data={"domain": domain})
    return row


def domain_verify(*, custom_domain: CustomDomain, actor: str) -> CustomDomain:
    """Look the records up; when both are right the domain is verified and routed. Raises
    DomainNotVerified naming each missing or wrong record (kept on the row for the dashboard)."""
    instance = custom_domain.instance
    problems = check_domain(domain=custom_domain.domain, target_host=instance.host,
                            token_record=custom_domain.ownership_record, token=custom_domain.token)
    with transaction.atomic():
        row = CustomDomain.objects.select_for_update().get(pk=custom_domain.pk)
        row.checked_at = timezone.now()
        row.problems = [p.as_dict() for p in problems]
        if problems:
            row.save(update_fields=["checked_at", "problems", "updated_at"])
        elif not row.verified:
            address_before = public_host(instance)
            row.status, row.verified_at = DomainStatus.VERIFIED, row.checked_at
            try:
                with transaction.atomic():
                    row.save(update_fields=["status", "verified_at", "checked_at", "problems", "updated_at"])
            except IntegrityError as error:  # verified for another instance in the meantime
                raise DomainTaken(f"{row.domain} is already in use by another instance.",
                                  details={"field": "domain"}) from error
            audit_log(actor=actor, action="domain.verified", target=instance, data={"domain": row.domain})
            _republish_on_commit(instance, address_before=address_before)
        else:
            row.save(update_fields=["checked_at", "problems", "updated_at"])
    if problems:
        raise DomainNotVerified(" ".join(p.sentence() for p in problems),
                                details={"domain": row.domain, "problems": row.problems})
    return row


@transaction.atomic
def domain_remove(*, custom_domain: CustomDomain, actor: str) -> None:
    """Forget the domain; the route stops carrying it when the transaction commits."""
    instance = custom_domain.instance
    was_verified = custom_domain.verified
    address_before = public_host(instance)
    audit_log(actor=actor, action="domain.removed", target=instance, data={"domain": custom_domain.domain})
    custom_domain.delete()
    if was_verified:
        _republish_on_commit(instance, address_before=address_before)
