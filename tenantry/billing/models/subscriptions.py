"""Who pays (BillingAccount), what they subscribe to, their coupons and add-on purchases."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from tenantry.billing.models.catalog import Interval
from tenantry.core.models import BaseModel


class AccountState(models.TextChoices):
    ACTIVE = "active", _("Active")
    PAST_DUE = "past_due", _("Past due")
    SUSPENDED = "suspended", _("Suspended")
    ARCHIVED = "archived", _("Archived")
    DELETED = "deleted", _("Deleted")


class BillingAccount(BaseModel):
    """A team's billing profile and its place on the dunning timeline."""

    team = models.OneToOneField("accounts.Team", on_delete=models.CASCADE, related_name="billing_account")
    legal_name = models.CharField(max_length=200, blank=True)
    billing_email = models.EmailField(blank=True)
    country = models.CharField(max_length=2, default="FR", help_text="ISO 3166 alpha-2")
    time_zone = models.CharField(max_length=64, default="UTC")
    currency = models.CharField(max_length=3, default="EUR")
    vat_id = models.CharField(max_length=32, blank=True)
    address_line1 = models.CharField(max_length=200, blank=True)
    address_line2 = models.CharField(max_length=200, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    city = models.CharField(max_length=100, blank=True)
    phone = models.CharField(max_length=32, blank=True)

    state = models.CharField(max_length=20, choices=AccountState.choices, default=AccountState.ACTIVE, db_index=True)
    state_changed_at = models.DateTimeField(null=True, blank=True)
    # Dunning bookkeeping: when the oldest unpaid invoice first failed, retries done, next retry due.
    dunning_started_at = models.DateTimeField(null=True, blank=True)
    dunning_retries = models.PositiveSmallIntegerField(default=0)
    next_retry_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["team__name"]

    def __str__(self) -> str:
        return f"billing:{self.team_id}"


class SubscriptionStatus(models.TextChoices):
    INCOMPLETE = "incomplete", _("Waiting for the first payment")
    TRIALING = "trialing", _("Trialing")
    ACTIVE = "active", _("Active")
    PAST_DUE = "past_due", _("Past due")
    CANCELED = "canceled", _("Canceled")
    TERMINATED = "terminated", _("Terminated")


LIVE_SUBSCRIPTION_STATUSES = ("incomplete", "trialing", "active", "past_due")


class Subscription(BaseModel):
    team = models.ForeignKey("accounts.Team", on_delete=models.PROTECT, related_name="subscriptions")
    account = models.ForeignKey(BillingAccount, on_delete=models.PROTECT, related_name="subscriptions")
    plan = models.ForeignKey("billing.Plan", on_delete=models.PROTECT, related_name="subscriptions")
    interval = models.CharField(max_length=10, choices=Interval.choices, default=Interval.MONTH)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=20, choices=SubscriptionStatus.choices, db_index=True)
    app = models.CharField(max_length=40, blank=True, help_text="App provisioned when the subscription starts")
    instance_slug = models.SlugField(max_length=40, blank=True)
    # Day-of-month anchor in the customer's time zone (clamped to shorter months).
    billing_anchor = models.DateTimeField()
    current_period_start = models.DateTimeField()
    current_period_end = models.DateTimeField(db_index=True)
    trial_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    canceled_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    pending_plan = models.ForeignKey("billing.Plan", on_delete=models.PROTECT, null=True, blank=True,
                                     related_name="+", help_text="Downgrade applied at the period end")
    pending_interval = models.CharField(max_length=10, choices=Interval.choices, blank=True)
    idempotency_key = models.CharField(max_length=200, blank=True)
    provisioned = models.BooleanField(default=False)
    # Why the paid-for instance could not be created (shown to the customer, who picks another
    # name, and to the operator); empty once it is.
    provision_error_code = models.CharField(max_length=60, blank=True)
    provision_error = models.TextField(blank=True)
    created_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One live subscription per team: a double-submitted checkout cannot create two.
            models.UniqueConstraint(fields=["team"], condition=Q(status__in=LIVE_SUBSCRIPTION_STATUSES),
                                    name="one_live_subscription_per_team"),
            models.UniqueConstraint(fields=["team", "idempotency_key"], condition=~Q(idempotency_key=""),
                                    name="subscription_idempotency_key_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.team_id} {self.plan_id} ({self.status})"

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_SUBSCRIPTION_STATUSES

    @property
    def awaits_instance(self) -> bool:
        """Paid for (or trialing) with an app to run, but its instance could not be created."""
        return (self.is_live and bool(self.app) and not self.provisioned
                and self.status != SubscriptionStatus.INCOMPLETE)


class Discount(BaseModel):
    """A coupon applied to a subscription; counts the periods it has been used for."""

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="discounts")
    coupon = models.ForeignKey("billing.Coupon", on_delete=models.PROTECT, related_name="discounts")
    periods_applied = models.PositiveSmallIntegerField(default=0)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [models.UniqueConstraint(fields=["subscription", "coupon"], name="discount_unique")]

    def __str__(self) -> str:
        return f"{self.coupon_id} on {self.subscription_id}"


class AddOnStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    EXPIRED = "expired", _("Expired")
    CANCELLED = "cancelled", _("Cancelled")


class AddOnPurchase(BaseModel):
    team = models.ForeignKey("accounts.Team", on_delete=models.PROTECT, related_name="addon_purchases")
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="addons")
    addon = models.ForeignKey("billing.AddOn", on_delete=models.PROTECT, related_name="purchases")
    quantity = models.PositiveSmallIntegerField(default=1)
    unit_price_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=20, choices=AddOnStatus.choices, default=AddOnStatus.ACTIVE, db_index=True)
    starts_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    auto_renew = models.BooleanField(default=True)
    invoice = models.ForeignKey("billing.Invoice", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.CheckConstraint(condition=Q(quantity__gte=1), name="addon_quantity_positive")]

    def __str__(self) -> str:
        return f"{self.addon_id} x{self.quantity} ({self.status})"
