"""The signed-in person's notification centre over REST (a dashboard session with its CSRF
token: notifications belong to a person, not to a team's API key)."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Router
from ninja.pagination import paginate

from tenantry.accounts.models import User
from tenantry.api.auth import SessionThenCsrfAuth
from tenantry.api.pagination import BoundedPagination
from tenantry.core.errors import ValidationError
from tenantry.instances.schemas import ErrorOut
from tenantry.notifications import selectors, services
from tenantry.notifications.models import Notification
from tenantry.notifications.schemas import (
    MarkedOut,
    MarkReadIn,
    NotificationOut,
    PreferenceIn,
    PreferenceOut,
    UnreadOut,
)

router = Router(tags=["notifications"], auth=SessionThenCsrfAuth())
ERRORS = {401: ErrorOut, 403: ErrorOut, 422: ErrorOut}


def _user(request: HttpRequest) -> User:
    return request.auth  # type: ignore[attr-defined]


@router.get("", response=list[NotificationOut], summary="My notifications, newest first (paginated)")
@paginate(BoundedPagination)
def list_notifications(request: HttpRequest, unread: bool = False) -> QuerySet[Notification]:
    return selectors.notification_list(user=_user(request), unread_only=unread)


@router.get("/unread-count", response=UnreadOut, summary="How many of my notifications are unread")
def unread_count(request: HttpRequest) -> dict:
    return {"unread": selectors.unread_count(user=_user(request))}


@router.post("/read", response={200: MarkedOut, **ERRORS}, summary="Mark notifications read (all when no ids)")
def mark_read(request: HttpRequest, payload: MarkReadIn) -> dict:
    ids = payload.ids
    if ids is not None:
        try:
            ids = [str(uuid.UUID(i)) for i in ids]
        except ValueError:
            raise ValidationError("ids must be notification ids.", details={"field": "ids"}) from None
    return {"marked": services.notifications_mark_read(user=_user(request), notification_ids=ids)}


@router.get("/preferences", response=list[PreferenceOut], summary="My choices for optional messages")
def get_preferences(request: HttpRequest) -> list[dict]:
    return selectors.preferences(user=_user(request))


@router.put("/preferences", response={200: list[PreferenceOut], **ERRORS},
            summary="Turn optional messages on or off, by email and in the dashboard")
def put_preferences(request: HttpRequest, payload: list[PreferenceIn]) -> list[dict]:
    user = _user(request)
    services.preferences_set(user=user, choices={p.event_type: {"email": p.email, "in_app": p.in_app}
                                                 for p in payload})
    return selectors.preferences(user=user)
