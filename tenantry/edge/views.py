"""The page the proxy serves for an instance that is not running.

The proxy routes `<slug>.<domain>` here (with `/_edge/<instance id>` prefixed to the path)
whenever the instance's containers are not serving: starting, stopped, suspended, failed,
or hibernated — in which case the first request wakes it, and the visitor gets a page that
reloads itself into the app as soon as it answers.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from tenantry.edge.holding import forward_to_app, wait_until_running
from tenantry.instances.models import Instance, Status
from tenantry.instances.services import instance_wake_on_request, touch_activity

REFRESH_SECONDS = 1

_STARTING = {Status.PENDING, Status.PROVISIONING, Status.STARTING, Status.WAKING, Status.RUNNING}
_WAKING = {Status.HIBERNATED, Status.WAKING, Status.STARTING, Status.RUNNING}


@csrf_exempt  # any method may arrive here (webhooks to a hibernated instance)
def instance_edge(request: HttpRequest, instance_id: str, rest: str = "") -> HttpResponse:
    instance = Instance.objects.filter(pk=instance_id).exclude(status=Status.DELETED).first()
    if instance is None or instance.status in (Status.DELETING, Status.ARCHIVED, Status.ARCHIVING):
        return _page(request, status=404, title=_("No such instance"),
                     message=_("There is no app at this address."), state="missing")
    touch_activity(instance=instance)
    if instance.status == Status.HIBERNATED:
        instance_wake_on_request(instance=instance)
        instance.refresh_from_db()
    # A machine caller (a webhook, an API client) cannot follow a "starting" page: hold its
    # request while the app wakes, then hand it over and relay the app's answer.
    if (instance.status in _WAKING and not _is_browser_page(request)
            and wait_until_running(instance, timeout=settings.TENANTRY["EDGE_HOLD_SECONDS"])):
        return forward_to_app(request, instance, rest)
    if instance.status in (Status.PENDING, Status.PROVISIONING):
        return _page(request, status=503, title=_("Setting up %(name)s…") % {"name": instance.slug},
                     message=_("This app is being set up. The page reloads by itself when it is ready."),
                     state="starting", refresh=True)
    if instance.status in _STARTING or instance.status == Status.HIBERNATED:
        return _page(request, status=503, title=_("Starting %(name)s…") % {"name": instance.slug},
                     message=_("This app is starting. The page reloads by itself in a moment."),
                     state="starting", refresh=True)
    if instance.status in (Status.STOPPED, Status.STOPPING):
        return _page(request, status=503, title=_("%(name)s is stopped") % {"name": instance.slug},
                     message=_("This app has been stopped by its owner."), state="stopped")
    if instance.status == Status.SUSPENDED:
        return _page(request, status=503, title=_("%(name)s is suspended") % {"name": instance.slug},
                     message=_("This app is suspended. Its owner can restore it from their dashboard."),
                     state="suspended")
    return _page(request, status=503, title=_("%(name)s is unavailable") % {"name": instance.slug},
                 message=_("This app is not available right now. Its owner has been told."), state="failed")


def _is_browser_page(request: HttpRequest) -> bool:
    """A person's browser asking for a page: it gets the self-refreshing page instead of waiting."""
    return request.method in ("GET", "HEAD") and "text/html" in request.headers.get("Accept", "")


def admin_login(request: HttpRequest, instance_id: str) -> HttpResponse:
    """Reached on the app's own address (`/_tenantry/login?ticket=…`): sign the customer in to the
    app by setting the app's session cookie for this host, then show the app."""
    from tenantry.automations.services import admin_login_redeem
    from tenantry.core.errors import ApplicationError

    instance = Instance.objects.filter(pk=instance_id).exclude(status=Status.DELETED).first()
    if instance is None:
        return _page(request, status=404, title=_("No such instance"),
                     message=_("There is no app at this address."), state="missing")
    try:
        cookies = admin_login_redeem(instance=instance, secret=request.GET.get("ticket", ""))
    except ApplicationError as exc:
        return _page(request, status=403, title=_("This link cannot be used"),
                     message=_("%(reason)s Open the app again from your dashboard.") % {"reason": exc.message},
                     state="login-refused")
    response = HttpResponseRedirect("/")
    secure = settings.TENANTRY["PUBLIC_SCHEME"] == "https"
    for name, value in cookies.items():
        response.set_cookie(name, value, path="/", httponly=True, samesite="Lax", secure=secure)
    response["Cache-Control"] = "no-store"
    return response


def _page(request: HttpRequest, *, status: int, title: str, message: str, state: str,
          refresh: bool = False) -> HttpResponse:
    response = render(request, "edge/page.html", {"title": title, "message": message, "state": state,
                                                  "refresh": REFRESH_SECONDS if refresh else None},
                      status=status)
    response["Cache-Control"] = "no-store"
    # An expected answer, not a server fault: keep Django from logging every one as an error.
    response._has_been_logged = True  # type: ignore[attr-defined]
    response["X-Tenantry-State"] = state
    if refresh:
        response["Retry-After"] = str(REFRESH_SECONDS)
    return response
