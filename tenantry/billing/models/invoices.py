"""Invoices (gapless numbers per series, assigned at finalization), their lines, and credit notes."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from tenantry.core.models import BaseModel


class InvoiceSeries(models.Model):
    """The counter of one numbering series, locked (select_for_update) while a number is taken."""

    prefix = models.CharField(max_length=20, primary_key=True)
    last_number = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.prefix} #{self.last_number}"


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    FINALIZED = "finalized", _("Finalized")
    PAID = "paid", _("Paid")
    VOID = "void", _("Void")


class LineKind(models.TextChoices):
    PLAN = "plan", _("Plan")
    ADDON = "addon", _("Add-on")
    PRORATION = "proration", _("Proration")
    DISCOUNT = "discount", _("Discount")
    USAGE = "usage", _("Usage over the plan")


class Invoice(BaseModel):
    class Reason(models.TextChoices):
        CHECKOUT = "checkout", _("Subscription start")
        RENEWAL = "renewal", _("Renewal")
        UPGRADE = "upgrade", _("Plan change")
        ADDON = "addon", _("Add-on")
        MANUAL = "manual", _("Manual")

    team = models.ForeignKey("accounts.Team", on_delete=models.PROTECT, related_name="invoices")
    account = models.ForeignKey("billing.BillingAccount", on_delete=models.PROTECT, related_name="invoices")
    subscription = models.ForeignKey("billing.Subscription", on_delete=models.PROTECT, null=True, blank=True,
                                     related_name="invoices")
    reason = models.CharField(max_length=20, choices=Reason.choices)
    status = models.CharField(max_length=20, choices=InvoiceStatus.choices, default=InvoiceStatus.DRAFT,
                              db_index=True)
    series = models.CharField(max_length=20, default="INV")
    number = models.PositiveIntegerField(null=True, blank=True)
    currency = models.CharField(max_length=3)
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    subtotal_minor = models.BigIntegerField(default=0)
    tax_minor = models.BigIntegerField(default=0)
    total_minor = models.BigIntegerField(default=0)
    tax_name = models.CharField(max_length=50, blank=True)
    tax_percent = models.DecimalField(max_digits=5, decimal_places=2, default=0)
    # Buyer snapshot taken at finalization: later profile edits never change an issued invoice.
    buyer = models.JSONField(default=dict, blank=True)
    vat_id = models.CharField(max_length=32, blank=True)
    issued_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    pdf_path = models.CharField(max_length=500, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    payment_failures = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["series", "number"], condition=Q(number__isnull=False),
                                    name="invoice_number_unique_per_series"),
            # A subscription's period is invoiced once (renewals and checkouts; upgrades have their own reason).
            models.UniqueConstraint(fields=["subscription", "period_start", "reason"],
                                    condition=Q(subscription__isnull=False, period_start__isnull=False)
                                    & Q(reason__in=["checkout", "renewal"]) & ~Q(status="void"),
                                    name="invoice_subscription_period_once"),
            models.CheckConstraint(condition=Q(status="draft") | Q(number__isnull=False),
                                   name="invoice_number_when_issued"),
            models.CheckConstraint(condition=Q(total_minor=models.F("subtotal_minor") + models.F("tax_minor")),
                                   name="invoice_total_consistent"),
        ]

    def __str__(self) -> str:
        return self.display_number or f"draft {self.pk}"

    @property
    def display_number(self) -> str:
        return f"{self.series}-{self.number:06d}" if self.number is not None else ""

    @property
    def amount_due_minor(self) -> int:
        return self.total_minor if self.status == InvoiceStatus.FINALIZED else 0


class InvoiceLine(models.Model):
    id = models.BigAutoField(primary_key=True)
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=20, choices=LineKind.choices)
    description = models.CharField(max_length=300)
    quantity = models.PositiveIntegerField(default=1)
    unit_amount_minor = models.BigIntegerField()
    amount_minor = models.BigIntegerField(help_text="Rounded line amount; negative for credits and discounts")
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    addon_purchase = models.ForeignKey("billing.AddOnPurchase", on_delete=models.SET_NULL, null=True, blank=True,
                                       related_name="+")

    class Meta:
        ordering = ["invoice", "position"]
        constraints = [models.UniqueConstraint(fields=["invoice", "position"], name="invoice_line_position_unique")]

    def __str__(self) -> str:
        return f"{self.description}: {self.amount_minor}"


class CreditNote(BaseModel):
    """Corrects an issued invoice (never edited): numbered in its own gapless series."""

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_notes")
    team = models.ForeignKey("accounts.Team", on_delete=models.PROTECT, related_name="credit_notes")
    series = models.CharField(max_length=20, default="CN")
    number = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    reason = models.TextField()
    subtotal_minor = models.BigIntegerField()
    tax_minor = models.BigIntegerField()
    total_minor = models.BigIntegerField()
    issued_at = models.DateTimeField()
    created_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["series", "number"], name="credit_note_number_unique"),
            models.CheckConstraint(condition=Q(total_minor__gt=0), name="credit_note_total_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.series}-{self.number:06d}"


class CreditNoteLine(models.Model):
    id = models.BigAutoField(primary_key=True)
    credit_note = models.ForeignKey(CreditNote, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField()
    description = models.CharField(max_length=300)
    amount_minor = models.BigIntegerField()

    class Meta:
        ordering = ["credit_note", "position"]

    def __str__(self) -> str:
        return f"{self.description}: {self.amount_minor}"
