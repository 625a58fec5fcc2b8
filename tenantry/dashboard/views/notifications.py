"""The notification centre (read, mark read) and the person's choices of optional messages."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tenantry.core.errors import ApplicationError
from tenantry.dashboard.context import signed_in_user
from tenantry.notifications import selectors, services


@login_required
def notifications(request: HttpRequest) -> HttpResponse:
    user = signed_in_user(request)
    unread_only = request.GET.get("unread") == "1"
    page = Paginator(selectors.notification_list(user=user, unread_only=unread_only), 50).get_page(
        request.GET.get("page"))
    return render(request, "dashboard/notifications.html", {"page": page, "unread_only": unread_only,
                                                            "nav": "notifications"})


@require_POST
@login_required
def notifications_read(request: HttpRequest) -> HttpResponse:
    """Mark one notification read (`id`) or all of them; then follow its link when asked."""
    user = signed_in_user(request)
    notification_id = request.POST.get("id") or None
    if notification_id is not None:
        try:
            notification_id = str(uuid.UUID(notification_id))
        except ValueError:
            return redirect("dashboard:notifications")
    services.notifications_mark_read(user=user, notification_ids=[notification_id] if notification_id else None)
    if notification_id and request.POST.get("follow"):
        target = selectors.notification_list(user=user).filter(pk=notification_id).values_list("url", flat=True).first()
        if target and target.startswith("/") and not target.startswith("//"):
            return redirect(target)
    return redirect("dashboard:notifications")


@login_required
def notification_preferences(request: HttpRequest) -> HttpResponse:
    user = signed_in_user(request)
    rows = selectors.preferences(user=user)
    if request.method == "POST":
        choices = {row["event_type"]: {"email": f"email:{row['event_type']}" in request.POST,
                                       "in_app": f"in_app:{row['event_type']}" in request.POST}
                   for row in rows}
        for event_type, row in zip(choices, rows, strict=True):
            if not row["email_available"]:
                choices[event_type]["email"] = True  # no email is sent for it anyway
        try:
            services.preferences_set(user=user, choices=choices)  # type: ignore[arg-type]
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Your choices are saved."))
            return redirect("dashboard:notification_preferences")
    return render(request, "dashboard/notification_preferences.html", {"rows": rows, "nav": "notifications"})
