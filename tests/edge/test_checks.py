"""Start-up checks: a control-plane cookie scoped so that instances would receive it is refused."""

from __future__ import annotations

from django.core.management import call_command
from django.core.management.base import SystemCheckError

from tenantry.edge.checks import control_plane_cookies_stay_off_instances


def test_a_cookie_domain_covering_instances_is_an_error(settings):
    settings.TENANTRY = {**settings.TENANTRY, "BASE_DOMAIN": "apps.example.com"}
    assert control_plane_cookies_stay_off_instances() == []  # host-only cookies (the default)

    settings.SESSION_COOKIE_DOMAIN = ".example.com"
    settings.LANGUAGE_COOKIE_DOMAIN = "apps.example.com"
    settings.CSRF_COOKIE_DOMAIN = "cloud.example.com"  # the dashboard's own host: fine
    errors = control_plane_cookies_stay_off_instances()
    assert [e.id for e in errors] == ["tenantry.E001", "tenantry.E001"]
    assert "SESSION_COOKIE_DOMAIN" in errors[0].msg and "LANGUAGE_COOKIE_DOMAIN" in errors[1].msg
    try:
        call_command("check", "--tag", "security")
    except SystemCheckError as exc:
        assert "tenantry.E001" in str(exc)
    else:
        raise AssertionError("`tenantry check` accepted a session cookie sent to every instance")
