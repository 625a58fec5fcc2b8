"""What crosses the edge, rule by rule (the end-to-end proof is in test_edge.py)."""

from __future__ import annotations

from tenantry.edge.guard import (
    bare_host,
    cookie_reaches_dashboard,
    host_serves_instance,
    proxy_credential_ok,
    without_control_plane_cookies,
)


def test_only_the_one_exact_credential_passes(settings):
    secret = settings.TENANTRY["EDGE_SECRET"]
    assert proxy_credential_ok([secret])
    assert not proxy_credential_ok([])
    assert not proxy_credential_ok([""])
    assert not proxy_credential_ok([secret + "x"])
    assert not proxy_credential_ok([secret, secret])  # a visitor's copy next to the proxy's


def test_hosts_the_edge_answers_for(settings):
    settings.TENANTRY = {**settings.TENANTRY, "BASE_DOMAIN": "apps.example.com",
                         "DASHBOARD_URL": "https://cloud.example.com"}
    assert bare_host("Alpha.Apps.Example.com.:8880") == "alpha.apps.example.com"
    assert bare_host("[::1]:80") == "[::1]"
    assert host_serves_instance("alpha.apps.example.com:443", "alpha")
    assert not host_serves_instance("beta.apps.example.com", "alpha")
    assert not host_serves_instance("cloud.example.com", "alpha")
    assert not host_serves_instance("", "alpha")
    settings.TENANTRY = {**settings.TENANTRY, "DASHBOARD_URL": "https://alpha.apps.example.com"}
    assert not host_serves_instance("alpha.apps.example.com", "alpha")  # never the dashboard's host


def test_control_plane_cookies_are_taken_out_and_the_app_cookies_kept(settings):
    settings.LANGUAGE_COOKIE_NAME = "lang"
    sent = "sessionid=s3cret; app=1; csrftoken=t0ken;lang=fr; messages=m; n8n-auth=jwt.x.y; other=a=b"
    assert without_control_plane_cookies(sent) == "app=1; n8n-auth=jwt.x.y; other=a=b"
    assert without_control_plane_cookies("sessionid=only") == ""


def test_cookies_set_for_a_domain_covering_the_dashboard_are_dropped(settings):
    settings.TENANTRY = {**settings.TENANTRY, "DASHBOARD_URL": "https://cloud.example.com:8443"}
    assert cookie_reaches_dashboard("sessionid=x; Domain=example.com; Path=/")
    assert cookie_reaches_dashboard("a=b; path=/; DOMAIN=.Example.COM")
    assert cookie_reaches_dashboard("a=b; Domain=cloud.example.com")
    assert cookie_reaches_dashboard("a=b; Domain=other.example; Domain=example.com")  # any of them
    assert not cookie_reaches_dashboard("a=b; Path=/; HttpOnly")  # host-only: stays on the tenant's host
    assert not cookie_reaches_dashboard("a=b; Domain=apps.example.com")
    assert not cookie_reaches_dashboard("a=b; Domain=ample.com")
    assert not cookie_reaches_dashboard("a=b; Domain=")
