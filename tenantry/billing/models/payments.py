"""Payments and processed webhooks (shape fixed by the contract with the payments half)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from tenantry.core.models import BaseModel


class PaymentStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    PROCESSING = "processing", _("Processing")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


class Payment(BaseModel):
    class Provider(models.TextChoices):
        STRIPE = "stripe", "Stripe"
        GATEWAY = "gateway", _("Mobile Money gateway")
        MANUAL = "manual", _("Manual")

    class Method(models.TextChoices):
        CARD = "card", _("Card")
        SEPA = "sepa", _("SEPA debit")
        MOBILE_MONEY = "mobile_money", _("Mobile Money")
        BANK_TRANSFER = "bank_transfer", _("Bank transfer")

    team = models.ForeignKey("accounts.Team", on_delete=models.PROTECT, related_name="payments")
    invoice = models.ForeignKey("billing.Invoice", on_delete=models.PROTECT, null=True, blank=True,
                                related_name="payments")
    provider = models.CharField(max_length=20, choices=Provider.choices)
    method = models.CharField(max_length=20, choices=Method.choices)
    provider_reference = models.CharField(max_length=255, blank=True)
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=20, choices=PaymentStatus.choices, default=PaymentStatus.PENDING,
                              db_index=True)
    failure_message = models.TextField(blank=True)
    redirect_url = models.URLField(blank=True, max_length=1000)
    instructions = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "provider_reference"], condition=~Q(provider_reference=""),
                                    name="payment_provider_reference_unique"),
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="payment_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.provider}:{self.provider_reference or self.pk} {self.amount_minor} {self.currency}"


class ProcessedWebhook(BaseModel):
    """Dedup of inbound events: inserted inside the handling transaction (IntegrityError = seen)."""

    class Source(models.TextChoices):
        STRIPE = "stripe", "Stripe"
        GATEWAY = "gateway", _("Mobile Money gateway")
        LAGO = "lago", "Lago"

    source = models.CharField(max_length=20, choices=Source.choices)
    event_id = models.CharField(max_length=255)
    event_type = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["source", "event_id"], name="processed_webhook_unique")]

    def __str__(self) -> str:
        return f"{self.source}:{self.event_id}"
