"""The unread count in the dashboard's header, on every page a signed-in person sees."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject


def unread_notifications(request: HttpRequest) -> dict[str, object]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    from tenantry.notifications.selectors import unread_count

    return {"notifications_unread": SimpleLazyObject(lambda: unread_count(user=user))}
