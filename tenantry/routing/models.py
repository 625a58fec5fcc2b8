"""Customers' own domains for their instances."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from tenantry.core.models import BaseModel

# Where the ownership token goes: a TXT record at `_tenantry.<domain>`.
OWNERSHIP_LABEL = "_tenantry"


class DomainStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for DNS records")
    VERIFIED = "verified", _("Verified")


class CustomDomain(BaseModel):
    """A host name a team points at one of its instances (`flows.example.com`).

    Pending until a DNS lookup finds both records Tenantry asked for; then the instance's route
    carries the host and the proxy obtains its certificate. A domain is verified for at most one
    instance (a database constraint): once another team has proven it, nobody else can claim it.
    """

    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="custom_domains")
    instance = models.ForeignKey("instances.Instance", on_delete=models.CASCADE, related_name="custom_domains")
    domain = models.CharField(max_length=253)
    # Bound to the team: proving the TXT record proves that the team controls the domain's DNS.
    token = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=DomainStatus.choices, default=DomainStatus.PENDING)
    verified_at = models.DateTimeField(null=True, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    # What the last verification found missing or wrong: [{"record", "type", "expected", "found", "problem"}]
    problems = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["instance", "domain"], name="customdomain_once_per_instance"),
            models.UniqueConstraint(fields=["domain"], condition=Q(status="verified"),
                                    name="customdomain_verified_once"),
        ]

    def __str__(self) -> str:
        return self.domain

    @property
    def ownership_record(self) -> str:
        return f"{OWNERSHIP_LABEL}.{self.domain}"

    @property
    def verified(self) -> bool:
        return self.status == DomainStatus.VERIFIED
