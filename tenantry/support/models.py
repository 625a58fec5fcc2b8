"""Support tickets (the pricing seed's model): a team's ticket, its messages and attachments,
and each plan's service level."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from tenantry.core.models import BaseModel


class Category(models.TextChoices):
    TECHNICAL = "technical", _("Technical")
    BILLING = "billing", _("Billing")
    ACCOUNT = "account", _("Account")
    OTHER = "other", _("Other")


class Priority(models.TextChoices):
    LOW = "low", _("Low")
    NORMAL = "normal", _("Normal")
    HIGH = "high", _("High")
    URGENT = "urgent", _("Urgent")


class TicketStatus(models.TextChoices):
    OPEN = "open", _("Open")
    IN_PROGRESS = "in_progress", _("In progress")
    WAITING = "waiting_for_customer", _("Waiting for customer")
    RESOLVED = "resolved", _("Resolved")
    CLOSED = "closed", _("Closed")


class MessageKind(models.TextChoices):
    CUSTOMER = "customer", _("Customer")
    STAFF = "staff", _("Support")
    NOTE = "note", _("Internal note")  # staff only: never in the customer's page, API or emails


class Ticket(BaseModel):
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="tickets")
    number = models.PositiveIntegerField(unique=True)  # shown as #123; also in reply addresses
    subject = models.CharField(max_length=200)
    category = models.CharField(max_length=20, choices=Category.choices, default=Category.TECHNICAL)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    status = models.CharField(max_length=24, choices=TicketStatus.choices, default=TicketStatus.OPEN,
                              db_index=True)
    requester = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="tickets_opened")
    assignee = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="tickets_assigned")
    # The service level the team's plan gave when the ticket was opened.
    first_response_due = models.DateTimeField(null=True, blank=True)
    resolution_due = models.DateTimeField(null=True, blank=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # Set (with an operator alert) by the SLA sweep when a due time passed unmet.
    first_response_breached = models.BooleanField(default=False)
    resolution_breached = models.BooleanField(default=False)
    last_activity_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-last_activity_at", "-number"]
        indexes = [models.Index(fields=["team", "status"])]

    def __str__(self) -> str:
        return f"#{self.number} {self.subject}"

    @property
    def sla_breached(self) -> bool:
        return self.first_response_breached or self.resolution_breached

    @property
    def is_finished(self) -> bool:
        return self.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED)


class TicketMessage(BaseModel):
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages")
    kind = models.CharField(max_length=10, choices=MessageKind.choices)
    author = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+")
    body = models.TextField()  # plain text, always rendered escaped
    via = models.CharField(max_length=10, default="web")  # web, api, email
    # The Message-ID of an inbound email: a provider or MTA that sends it twice adds it once.
    email_message_id = models.CharField(max_length=300, blank=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} on {self.ticket_id}"

    @property
    def is_internal(self) -> bool:
        return self.kind == MessageKind.NOTE


class TicketAttachment(BaseModel):
    message = models.ForeignKey(TicketMessage, on_delete=models.CASCADE, related_name="attachments")
    filename = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    path = models.CharField(max_length=500)  # relative to the data directory

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.filename


class PlanSla(BaseModel):
    """A plan's service level: how soon support answers first and resolves. Plans without one
    use TENANTRY_SUPPORT_SLA_* (priority-support plans: TENANTRY_SUPPORT_PRIORITY_SLA_*)."""

    plan = models.OneToOneField("billing.Plan", on_delete=models.CASCADE, related_name="sla")
    first_response_minutes = models.PositiveIntegerField()
    resolution_minutes = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"{self.plan}: {self.first_response_minutes} / {self.resolution_minutes} min"
