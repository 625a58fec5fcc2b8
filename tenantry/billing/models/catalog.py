"""What the operator sells: plans, add-ons, coupons, and the tax rates that apply."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from tenantry.core.models import BaseModel


class Interval(models.TextChoices):
    MONTH = "month", _("Monthly")
    YEAR = "year", _("Yearly")


class Plan(BaseModel):
    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    currency = models.CharField(max_length=3, default="EUR")
    # Prices in minor units of `currency` (cents for EUR, francs for XOF); NULL = interval not offered.
    price_month_minor = models.BigIntegerField(null=True, blank=True)
    price_year_minor = models.BigIntegerField(null=True, blank=True)
    trial_days = models.PositiveSmallIntegerField(default=0)
    allowed_apps = models.JSONField(default=list, blank=True, help_text="App names; empty list = every app")
    max_instances = models.PositiveIntegerField(default=1)
    max_custom_domains = models.PositiveIntegerField(default=1,
                                                     help_text="Customers' own domains, all instances together")
    memory_mb = models.PositiveIntegerField(default=512, help_text="Memory per instance")
    cpus = models.DecimalField(max_digits=6, decimal_places=3, default=1, help_text="CPUs per instance")
    storage_gb = models.PositiveIntegerField(default=5)
    traffic_gb_month = models.PositiveIntegerField(default=50)
    app_limits = models.JSONField(default=dict, blank=True, help_text='e.g. {"n8n": {"executions_month": 5000}}')
    # What happens when a metered limit is used up (tenantry/metering/quotas.py): notify, block or
    # bill_overage, e.g. {"traffic": {"policy": "bill_overage", "unit_price_minor": 200}}.
    usage_policies = models.JSONField(default=dict, blank=True,
                                      help_text='e.g. {"traffic": {"policy": "bill_overage", "unit_price_minor": 200}}')
    offsite_backups = models.BooleanField(default=False)
    priority_support = models.BooleanField(default=False)
    addons_allowed = models.BooleanField(default=False)
    # REST API requests a minute per API key; empty: the installation's default (API_RATE_LIMIT_PER_MINUTE).
    api_requests_per_minute = models.PositiveIntegerField(null=True, blank=True)
    # Whether deleting an instance first saves its final backup; empty: the installation's
    # default (TENANTRY_BACKUP_FINAL_ON_DELETE).
    final_backup_on_delete = models.BooleanField(null=True, blank=True)
    is_public = models.BooleanField(default=True)
    is_active = models.BooleanField(default=True)
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["sort_order", "code"]
        constraints = [
            models.CheckConstraint(condition=Q(price_month_minor__gte=0) | Q(price_month_minor__isnull=True),
                                   name="plan_price_month_non_negative"),
            models.CheckConstraint(condition=Q(price_year_minor__gte=0) | Q(price_year_minor__isnull=True),
                                   name="plan_price_year_non_negative"),
        ]

    def __str__(self) -> str:
        return self.name

    def price_for(self, interval: str) -> int | None:
        return self.price_month_minor if interval == Interval.MONTH else self.price_year_minor

    def clean(self) -> None:
        from django.core.exceptions import ValidationError as FormError

        from tenantry.core.errors import ApplicationError
        from tenantry.metering.quotas import validate_usage_policies

        try:
            validate_usage_policies(self.usage_policies)
        except ApplicationError as exc:
            raise FormError({"usage_policies": exc.message}) from exc
        from tenantry.billing.plan_sizes import plan_size_errors

        errors = plan_size_errors(self)
        if errors:
            raise FormError(errors)

    def allows_app(self, app: str) -> bool:
        return not self.allowed_apps or app in self.allowed_apps


class AddOn(BaseModel):
    """A resource pack bought for 30 days at a time (+500 MB RAM, +1 CPU, ...)."""

    class Resource(models.TextChoices):
        MEMORY = "memory", _("Memory")
        CPU = "cpu", _("CPU")
        TRAFFIC = "traffic", _("Traffic")
        STORAGE = "storage", _("Storage")

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=100)
    resource = models.CharField(max_length=20, choices=Resource.choices)
    # Units of the resource: MB for memory, CPUs for cpu, GB for traffic and storage.
    quantity = models.DecimalField(max_digits=10, decimal_places=3)
    currency = models.CharField(max_length=3, default="EUR")
    price_minor = models.BigIntegerField()
    duration_days = models.PositiveSmallIntegerField(default=30)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]
        constraints = [models.CheckConstraint(condition=Q(price_minor__gte=0), name="addon_price_non_negative")]

    def __str__(self) -> str:
        return self.name


class DiscountKind(models.TextChoices):
    PERCENT = "percent", _("Percent")
    FIXED = "fixed", _("Fixed amount")


class CouponDuration(models.TextChoices):
    ONCE = "once", _("Once")
    REPEATING = "repeating", _("Repeating")
    FOREVER = "forever", _("Forever")


class Coupon(BaseModel):
    code = models.CharField(max_length=40, unique=True)
    kind = models.CharField(max_length=10, choices=DiscountKind.choices)
    percent = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    amount_minor = models.BigIntegerField(null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    duration = models.CharField(max_length=10, choices=CouponDuration.choices, default=CouponDuration.ONCE)
    duration_periods = models.PositiveSmallIntegerField(null=True, blank=True, help_text="For repeating coupons")
    max_redemptions = models.PositiveIntegerField(null=True, blank=True)
    valid_until = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind="percent", percent__gt=0, percent__lte=100)
                           | Q(kind="fixed", amount_minor__gt=0)),
                name="coupon_amount_valid"),
        ]

    def __str__(self) -> str:
        return self.code


class TaxRate(BaseModel):
    """VAT (or sales tax) per customer country; the latest active row for a country applies."""

    country = models.CharField(max_length=2, unique=True)
    name = models.CharField(max_length=50, default="VAT")
    percent = models.DecimalField(max_digits=5, decimal_places=2)
    # Reverse charge: a business with a valid VAT id in another country pays no VAT here.
    reverse_charge_with_vat_id = models.BooleanField(default=False)

    class Meta:
        ordering = ["country"]

    def __str__(self) -> str:
        return f"{self.country} {self.percent}%"
