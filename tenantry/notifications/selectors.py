"""Reads of a person's notifications and preferences: always their own."""

from __future__ import annotations

from django.db.models import QuerySet

from tenantry.accounts.models import User
from tenantry.notifications.models import Notification, NotificationPreference
from tenantry.notifications.rules import RULES, optional_event_types


def notification_list(*, user: User, unread_only: bool = False) -> QuerySet[Notification]:
    qs = Notification.objects.filter(user=user).select_related("team").order_by("-created_at")
    return qs.filter(read_at__isnull=True) if unread_only else qs


def unread_count(*, user: User) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def preferences(*, user: User) -> list[dict[str, object]]:
    """Every optional kind of message with the person's choice (both on by default)."""
    saved = {p.event_type: p for p in NotificationPreference.objects.filter(user=user)}
    rows = []
    for event_type in optional_event_types():
        pref = saved.get(event_type)
        rows.append({"event_type": event_type, "email_available": RULES[event_type].email,
                     "email": pref.email if pref else True, "in_app": pref.in_app if pref else True})
    return rows
