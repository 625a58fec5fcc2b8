"""What the edge shows on an instance's own address: the status pages (starting, stopped,
suspended…) and the one-time sign-in to the app."""

from __future__ import annotations

from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from tenantry.edge.wire import EdgeRequest, EdgeResponse
from tenantry.instances.models import Instance, Status

REFRESH_SECONDS = 1

_SETTING_UP = {Status.PENDING, Status.PROVISIONING}
_STARTING = {Status.STARTING, Status.WAKING, Status.RUNNING, Status.HIBERNATED}


def language_for(request: EdgeRequest) -> str:
    """The visitor's language from Accept-Language (the edge keeps no cookie of its own)."""
    from django.utils.translation.trans_real import parse_accept_lang_header

    for code, _quality in parse_accept_lang_header(request.header("accept-language")):
        if code == "*":
            break
        try:
            return translation.get_supported_language_variant(code)
        except LookupError:
            continue
    return settings.LANGUAGE_CODE


def page(*, status: int, title: str, message: str, state: str, refresh: bool = False) -> EdgeResponse:
    html = render_to_string("edge/page.html", {"title": title, "message": message, "state": state,
                                               "refresh": REFRESH_SECONDS if refresh else None,
                                               "LANGUAGE_CODE": translation.get_language()})
    headers = [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store"),
               ("X-Tenantry-State", state), ("Content-Language", translation.get_language() or "en")]
    if refresh:
        headers.append(("Retry-After", str(REFRESH_SECONDS)))
    return EdgeResponse(status, headers, html.encode())


def missing_page() -> EdgeResponse:
    return page(status=404, title=_("No such instance"), message=_("There is no app at this address."),
                state="missing")


def instance_page(instance: Instance) -> EdgeResponse:
    """The page for an instance that is not serving (or not yet: the visitor reloads into it)."""
    name = {"name": instance.slug}
    if instance.status in _SETTING_UP:
        return page(status=503, title=_("Setting up %(name)s…") % name,
                    message=_("This app is being set up. The page reloads by itself when it is ready."),
                    state="starting", refresh=True)
    if instance.status in _STARTING:
        return page(status=503, title=_("Starting %(name)s…") % name,
                    message=_("This app is starting. The page reloads by itself in a moment."),
                    state="starting", refresh=True)
    if instance.status in (Status.STOPPED, Status.STOPPING):
        return page(status=503, title=_("%(name)s is stopped") % name,
                    message=_("This app has been stopped by its owner."), state="stopped")
    if instance.status == Status.SUSPENDED:
        return page(status=503, title=_("%(name)s is suspended") % name,
                    message=_("This app is suspended. Its owner can restore it from their dashboard."),
                    state="suspended")
    return page(status=503, title=_("%(name)s is unavailable") % name,
                message=_("This app is not available right now. Its owner has been told."), state="failed")


def login_ticket(request: EdgeRequest) -> str:
    return parse_qs(request.query_string).get("ticket", [""])[0]


def login_refused(reason: str) -> EdgeResponse:
    return page(status=403, title=_("This link cannot be used"),
                message=_("%(reason)s Open the app again from your dashboard.") % {"reason": reason},
                state="login-refused")


def signed_in(cookies: dict[str, str]) -> EdgeResponse:
    """Reached on the app's own address (`/_tenantry/login?ticket=…`): the app's session cookies,
    for this host only (no Domain), then on to the app."""
    headers = [("Location", "/"), ("Cache-Control", "no-store"), ("Content-Type", "text/plain")]
    secure = settings.TENANTRY["PUBLIC_SCHEME"] == "https"
    for name, value in cookies.items():
        jar: SimpleCookie = SimpleCookie()
        jar[name] = value
        morsel = jar[name]
        morsel["path"] = "/"
        morsel["httponly"] = True
        morsel["samesite"] = "Lax"
        if secure:
            morsel["secure"] = True
        headers.append(("Set-Cookie", morsel.OutputString()))
    return EdgeResponse(302, headers)
