"""White label through the real proxy: the edge pages carry the brand, and the dashboard answers
on the operator's own domain (Traefik route, allowed host, CSRF, cookies), which doctor checks."""

from __future__ import annotations

import re

import pytest
import yaml

from tenantry.branding.selectors import current_brand
from tenantry.ops.doctor import FAILURE, OK, Finding
from tenantry.ops.doctor_dashboard import dashboard_findings
from tenantry.routing.backends.base import Route
from tenantry.routing.registry import routing
from tests.branding.helpers import NAME, PRIMARY, SUPPORT, branded
from tests.dashboard.helpers import PASSWORD, make_user

pytestmark = [pytest.mark.traefik]

HOST = "dash.acme-cloud.test"


def test_edge_pages_through_traefik_carry_the_brand(edge, transactional_db):
    branded()
    parked = Route(key="00000000-0000-0000-0000-0000000000b1", hosts=("branded.localhost",))
    routing().publish(parked)
    assert routing().wait_applied(parked)
    page = edge.wait_until("branded.localhost", lambda r: r.status_code == 404 and NAME in r.text,
                           path="/anything", what="the branded edge page")
    assert page.headers["X-Tenantry-State"] == "missing"
    assert f"--accent: {PRIMARY};" in page.text
    assert f'<img src="{current_brand().logo_absolute_url}"' in page.text
    assert f"mailto:{SUPPORT}" in page.text and "Acme Cloud SARL &lt;b&gt;<br>" in page.text
    routing().unpublish(parked.key)


def _serve_dashboard_on(settings, live_server, edge) -> str:
    settings.TENANTRY_DASHBOARD = {"HOST": HOST, "PROXY": True, "UPSTREAM": live_server.url}
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, HOST]
    origin = f"http://{HOST}:{edge.port}"
    settings.TENANTRY = {**settings.TENANTRY, "DASHBOARD_URL": origin}
    routing().ensure_base()  # type: ignore[attr-defined]
    return origin


def test_dashboard_answers_on_the_operators_own_domain(edge, live_server, settings, transactional_db):
    branded()
    make_user("custom@example.com")
    origin = _serve_dashboard_on(settings, live_server, edge)
    try:
        document = yaml.safe_load((edge.directory / "dynamic" / "_tenantry.yml").read_text())
        assert document["http"]["routers"]["tenantry-dashboard"]["rule"] == f"Host(`{HOST}`)"
        browser_host = f"{HOST}:{edge.port}"  # what a browser sends as Host
        login = edge.wait_until(browser_host, lambda r: r.status_code == 200 and NAME in r.text,
                                path="/accounts/login/", what="the dashboard through the proxy")
        assert f"· {NAME}</title>" in login.text
        # Signing in through the proxy: CSRF accepts the custom origin, the session cookie is the host's.
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
        cookies = {"csrftoken": login.cookies["csrftoken"]}
        answer = edge.request("POST", browser_host, "/accounts/login/", cookies=cookies,
                              headers={"Origin": origin, "Referer": origin + "/accounts/login/"},
                              data={"csrfmiddlewaretoken": token, "login": "custom@example.com", "password": PASSWORD})
        assert answer.status_code == 302, answer.text[:500]
        session = answer.cookies.get("sessionid")
        assert session and "Domain" not in answer.headers["Set-Cookie"].split("sessionid=", 1)[1].split(",")[0]
        home = edge.get(browser_host, "/", cookies={"sessionid": session})
        followed = edge.get(browser_host, home.headers["Location"], cookies={"sessionid": session}) \
            if home.status_code == 302 else home
        assert followed.status_code == 200 and 'class="brand-name">Acme Cloud' in followed.text
        # A forged origin is refused: trusted origins follow the dashboard's, nothing more.
        forged = edge.request("POST", browser_host, "/accounts/login/", cookies=cookies,
                              headers={"Origin": "http://evil.test", "Referer": "http://evil.test/"},
                              data={"csrfmiddlewaretoken": token, "login": "custom@example.com", "password": PASSWORD})
        assert forged.status_code == 403
        # Another host through the same proxy is not the dashboard.
        assert edge.get("other.acme-cloud.test", "/accounts/login/").status_code == 404
        findings = list(dashboard_findings(Finding, lambda host: ["127.0.0.1"], OK, "warning", FAILURE))
        assert [f.status for f in findings if f.status == FAILURE] == []
        assert findings[-1].status == OK and HOST in findings[-1].message
    finally:
        settings.TENANTRY_DASHBOARD = {"HOST": "", "PROXY": False, "UPSTREAM": ""}
        routing().ensure_base()  # type: ignore[attr-defined]
    unrouted = list(dashboard_findings(Finding, lambda host: ["127.0.0.1"], OK, "warning", FAILURE))
    assert unrouted[-1].status == OK  # PROXY off: another proxy serves the host, doctor does not ask


def test_doctor_refuses_a_dashboard_host_it_cannot_serve(settings, tmp_path):
    settings.TENANTRY = {**settings.TENANTRY, "DASHBOARD_URL": "https://shop.apps.acme.test", "BASE_DOMAIN":
                         "apps.acme.test"}
    settings.TENANTRY_DASHBOARD = {"HOST": "shop.apps.acme.test", "PROXY": True, "UPSTREAM": "http://127.0.0.1:9"}
    settings.CSRF_TRUSTED_ORIGINS = []
    settings.SESSION_COOKIE_SECURE = False

    def no_dns(host: str) -> list[str]:
        raise OSError(f"{host}: NXDOMAIN")

    messages = [f.message for f in dashboard_findings(Finding, no_dns, OK, "warning", FAILURE)
                if f.status == FAILURE]
    assert any("not in ALLOWED_HOSTS" in m for m in messages)
    assert any("instance address" in m for m in messages)
    assert any("CSRF trusted origin" in m for m in messages)
    assert any("cookies may travel in clear" in m for m in messages)
    assert any("does not resolve" in m for m in messages)


def test_tls_dashboard_route_takes_a_certificate_from_acme(tmp_path, settings):
    from tenantry.routing.backends.traefik import TraefikRouting
    from tenantry.routing.backends.traefik_static import TlsConfig

    settings.TENANTRY_DASHBOARD = {"HOST": HOST, "PROXY": True, "UPSTREAM": "http://127.0.0.1:8000"}
    backend = TraefikRouting(directory=str(tmp_path / "dyn"), edge_url="http://127.0.0.1:9", edge_secret="s",
                             tls=TlsConfig(https_address=":8443", email="ops@acme-cloud.test"))
    backend.ensure_base()
    router = yaml.safe_load((tmp_path / "dyn" / "_tenantry.yml").read_text())["http"]["routers"]["tenantry-dashboard"]
    assert router["entryPoints"] == ["websecure"] and router["tls"] == {"certResolver": "tenantry-http"}
    assert router["middlewares"] == ["tenantry-hsts"]


def test_no_dashboard_route_for_a_loopback_dashboard(tmp_path, settings):
    from tenantry.routing.backends.traefik import TraefikRouting

    assert settings.TENANTRY_DASHBOARD["PROXY"] is False  # the test settings: http://127.0.0.1:…
    backend = TraefikRouting(directory=str(tmp_path / "dyn"), edge_url="http://127.0.0.1:9", edge_secret="s")
    backend.ensure_base()
    routers = yaml.safe_load((tmp_path / "dyn" / "_tenantry.yml").read_text())["http"]["routers"]
    assert "tenantry-dashboard" not in routers and "tenantry-dashboard" not in str(routers)


