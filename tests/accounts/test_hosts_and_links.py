"""The control plane answers only for its own hosts, builds every emailed link from the
configured dashboard URL, follows no `next` off its own host, and reads its encryption keys
from outside the data directory when told to (issue 9, item 5)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from tenantry.accounts.access import Access
from tenantry.accounts.models import Role
from tenantry.accounts.services.invitations import invitation_create
from tenantry.instances.models import Instance, Status
from tenantry.runtime.placement import default_server
from tests.dashboard.helpers import PASSWORD, make_user, signed_in

DASHBOARD = "https://cloud.example.test"
CONTROL_PLANE_PAGES = ["/accounts/login/", "/accounts/signup/", "/accounts/password/reset/", "/api/v1/apps",
                       "/admin/login/", "/", "/webhooks/gateway"]


def _instance(team, slug: str, status: str) -> Instance:
    """A row is enough here: nothing in these tests reaches the runtime."""
    return Instance.objects.create(team=team, slug=slug, app="hello", server=default_server(), status=status,
                                   memory_mb=64, cpus=0.25, pids=64)


@pytest.fixture()
def dashboard_url(settings):
    settings.TENANTRY = {**settings.TENANTRY, "DASHBOARD_URL": DASHBOARD}
    return DASHBOARD


# --- hosts ---------------------------------------------------------------------------------------

def test_allowed_hosts_hold_only_the_control_planes_own(settings):
    assert not any(host.startswith(".") or host == "*" for host in settings.ALLOWED_HOSTS), settings.ALLOWED_HOSTS
    assert "127.0.0.1" in settings.ALLOWED_HOSTS


@pytest.mark.django_db
@pytest.mark.parametrize("path", CONTROL_PLANE_PAGES)
def test_no_control_plane_page_answers_on_a_tenants_address(path):
    client = Client()
    assert client.get(path, HTTP_HOST="127.0.0.1").status_code in (200, 302, 401, 405)
    for host in ("acme.localhost", "acme.localhost:8880", "deep.acme.localhost"):
        assert client.get(path, HTTP_HOST=host).status_code == 400, (path, host)
    assert client.get(path, HTTP_HOST="evil.example.com").status_code == 400  # not ours at all


# --- links built from TENANTRY_DASHBOARD_URL -----------------------------------------------------

@pytest.mark.django_db
def test_password_reset_link_comes_from_the_dashboard_url_not_the_host(dashboard_url, mailoutbox):
    make_user("reset@example.com")
    # `localhost` is one of the control plane's hosts, but not the configured address.
    Client().post("/accounts/password/reset/", {"email": "reset@example.com"}, HTTP_HOST="localhost")
    assert len(mailoutbox) == 1
    body = mailoutbox[0].body + "".join(str(alt[0]) for alt in mailoutbox[0].alternatives)
    assert f"{DASHBOARD}/accounts/password/reset/key/" in body
    assert "http://localhost" not in body and "testserver" not in body


@pytest.mark.django_db
def test_unknown_account_and_signup_confirmation_links_come_from_the_dashboard_url(dashboard_url, mailoutbox):
    Client().post("/accounts/password/reset/", {"email": "nobody@example.com"}, HTTP_HOST="localhost")
    Client().post("/accounts/signup/", {"email": "new@example.com", "password1": PASSWORD, "password2": PASSWORD},
                  HTTP_HOST="localhost")
    assert len(mailoutbox) == 2
    for message in mailoutbox:
        body = message.body + "".join(str(alt[0]) for alt in message.alternatives)
        assert DASHBOARD in body and "http://localhost" not in body, body
    assert f"{DASHBOARD}/accounts/confirm-email/" in mailoutbox[1].body


@pytest.mark.django_db
def test_invitation_link_comes_from_the_dashboard_url(dashboard_url, mailoutbox):
    owner = make_user("owner@example.com")
    invitation_create(access=Access(team=owner.memberships.get().team, user=owner, role=Role.OWNER),
                      email="guest@example.com", role=Role.MEMBER)
    assert f"{DASHBOARD}/invitations/" in mailoutbox[0].body


# --- next ------------------------------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("target", ["http://acme.localhost/", "http://acme.localhost:8880/", "http://evil.example.com/",
                                    "//evil.example.com/",
                                    "https://127.0.0.1.evil.example/"])
def test_login_never_redirects_off_the_control_plane(target):
    make_user("login@example.com")
    answer = Client().post(f"/accounts/login/?next={target}", {"login": "login@example.com", "password": PASSWORD,
                                                               "next": target}, HTTP_HOST="127.0.0.1")
    assert answer.status_code == 302
    assert not answer["Location"].startswith((target, "//")), answer["Location"]


@pytest.mark.django_db
def test_login_follows_a_next_on_its_own_host():
    make_user("login@example.com")
    answer = Client().post("/accounts/login/", {"login": "login@example.com", "password": PASSWORD,
                                                "next": "/account/"}, HTTP_HOST="127.0.0.1")
    assert answer["Location"] == "/account/"


@pytest.mark.django_db
@pytest.mark.parametrize("target", ["http://acme.localhost:8880/", "//evil.example.com/"])
def test_language_switch_never_redirects_off_the_control_plane(target):
    answer = Client().post("/i18n/setlang/", {"language": "fr", "next": target}, HTTP_HOST="127.0.0.1")
    assert answer.status_code == 302 and answer["Location"] == "/"


@pytest.mark.django_db
@pytest.mark.parametrize("target", ["http://acme.localhost:8880/", "https://evil.example.com/", "//evil.example.com/"])
def test_instance_actions_never_redirect_off_the_control_plane(target):
    user = make_user("ops@example.com")
    team = user.memberships.get().team
    _instance(team, "mine", Status.RUNNING)
    client = signed_in(user)
    answer = client.post(f"/t/{team.slug}/instances/mine/no-such-action/", {"next": target})
    assert answer.status_code == 302 and answer["Location"] == f"/t/{team.slug}/instances/mine/"
    kept = client.post(f"/t/{team.slug}/instances/mine/no-such-action/", {"next": f"/t/{team.slug}/"})
    assert kept["Location"] == f"/t/{team.slug}/"


# --- https -----------------------------------------------------------------------------------------

def _settings_with(env: dict[str, str], *names: str) -> list[str]:
    """The named settings as a fresh process computes them from this environment."""
    code = ("import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'tenantry.settings'; django.setup();"
            "from django.conf import settings as s;"
            f"print('\\n'.join(repr(getattr(s, n, None)) for n in {list(names)!r}))")
    base = {k: v for k, v in os.environ.items() if not k.startswith("TENANTRY_DASHBOARD")}
    out = subprocess.run([sys.executable, "-c", code], env={**base, **env}, capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[2])
    return out.stdout.strip().splitlines()


def test_an_https_dashboard_gets_secure_cookies_hsts_and_the_proxys_tls_header():
    names = ("SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS", "SECURE_PROXY_SSL_HEADER",
             "CSRF_TRUSTED_ORIGINS", "ALLOWED_HOSTS", "SECURE_HSTS_INCLUDE_SUBDOMAINS")
    https = _settings_with({"TENANTRY_DASHBOARD_URL": "https://cloud.example.test/"}, *names)
    assert https[:5] == ["True", "True", "31536000", "('HTTP_X_FORWARDED_PROTO', 'https')",
                         "['https://cloud.example.test']"]
    assert "'cloud.example.test'" in https[5] and https[6] == "False"
    plain = _settings_with({"TENANTRY_DASHBOARD_URL": "http://127.0.0.1:8000"}, *names)
    assert plain[:5] == ["False", "False", "0", "None", "[]"]


@pytest.mark.django_db
def test_behind_the_proxy_the_tls_header_makes_requests_secure(settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SESSION_COOKIE_SECURE = True
    make_user("tls@example.com")
    client = Client()
    answer = client.post("/accounts/login/", {"login": "tls@example.com", "password": PASSWORD},
                         HTTP_HOST="127.0.0.1", HTTP_X_FORWARDED_PROTO="https")
    assert answer.status_code == 302 and answer.cookies["sessionid"]["secure"]


# --- the encryption key outside the data directory ------------------------------------------------

@pytest.fixture()
def fresh_keys():
    from tenantry.core import crypto

    crypto._fernet.cache_clear()
    yield crypto
    crypto._fernet.cache_clear()


def test_secrets_key_file_outside_the_data_directory(settings, tmp_path, fresh_keys):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    key_file = tmp_path / "elsewhere" / "tenantry.keys"
    key_file.parent.mkdir()
    key_file.write_text(f"{old}\n")
    settings.TENANTRY = {**settings.TENANTRY, "SECRETS_KEYS": [], "SECRETS_KEY_FILE": str(key_file)}
    token = fresh_keys.encrypt("s3cret")
    assert Fernet(old.encode()).decrypt(token.encode()) == b"s3cret"
    key_file.write_text(f"{new}\n{old}\n")  # rotation: newest first, the old one still reads
    fresh_keys._fernet.cache_clear()
    assert fresh_keys.decrypt(token) == "s3cret"
    assert Fernet(new.encode()).decrypt(fresh_keys.rotate(token).encode()) == b"s3cret"
    assert not (Path(settings.DATA_DIR) / "elsewhere").exists()


def test_a_named_key_file_that_is_missing_or_empty_is_an_error_never_a_new_key(settings, tmp_path, fresh_keys):
    missing = tmp_path / "missing.keys"
    settings.TENANTRY = {**settings.TENANTRY, "SECRETS_KEYS": [], "SECRETS_KEY_FILE": str(missing)}
    with pytest.raises(ImproperlyConfigured, match="no such file"):
        fresh_keys.encrypt("x")
    assert not missing.exists()
    empty = tmp_path / "empty.keys"
    empty.write_text("\n")
    settings.TENANTRY = {**settings.TENANTRY, "SECRETS_KEY_FILE": str(empty)}
    fresh_keys._fernet.cache_clear()
    with pytest.raises(ImproperlyConfigured, match="holds no key"):
        fresh_keys.encrypt("x")


def test_the_environment_variable_names_the_key_file(tmp_path):
    key = Fernet.generate_key().decode()
    (tmp_path / "k").write_text(key)
    value = _settings_with({"TENANTRY_SECRETS_KEY_FILE": str(tmp_path / "k")}, "TENANTRY")[0]
    assert f"'SECRETS_KEY_FILE': '{tmp_path / 'k'}'" in value
