"""Single sign-on through OpenID Connect against a real provider (npm oidc-provider on node)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from tenantry.accounts.models import Membership, User
from tests.conftest import shared_database_url, wait_for
from tests.dashboard.test_browser import browser_page, shot  # noqa: F401  (fixture)
from tests.testenv import free_port

OIDC_DIR = Path(__file__).resolve().parent.parent / "oidc"


@pytest.fixture()
def oidc_provider(live_server, settings, output_dir):
    if not (OIDC_DIR / "node_modules" / "oidc-provider").exists():
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent"], cwd=OIDC_DIR, check=True,
                       timeout=300)
    port = free_port()
    redirect = f"{live_server.url}/accounts/oidc/testsso/login/callback/"
    env = {**os.environ, "PORT": str(port), "CLIENT_ID": "tenantry", "CLIENT_SECRET": "test-secret-123",
           "REDIRECT_URI": redirect}
    log = open(output_dir / "oidc-provider.log", "w")  # noqa: SIM115
    process = subprocess.Popen(["node", "provider.mjs"], cwd=OIDC_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
    issuer = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return requests.get(f"{issuer}/.well-known/openid-configuration", timeout=1).ok
        except requests.RequestException:
            return False

    wait_for(ready, timeout=30, what="the OpenID provider")
    settings.SOCIALACCOUNT_PROVIDERS = {"openid_connect": {"OAUTH_PKCE_ENABLED": True, "APPS": [{
        "provider_id": "testsso", "name": "Test SSO", "client_id": "tenantry", "secret": "test-secret-123",
        "settings": {"server_url": issuer}}]}}
    yield issuer
    process.terminate()
    process.wait(timeout=10)
    log.close()


@pytest.mark.django_db(transaction=True)
def test_sign_in_with_openid_connect(live_server, oidc_provider, browser_page, output_dir):  # noqa: F811
    page = browser_page
    page.goto(f"{live_server.url}/accounts/login/")
    page.click("text=Test SSO")
    page.click("main button[type=submit]")  # allauth asks before leaving for the provider
    expect(page).to_have_url(re.compile("^" + re.escape(oidc_provider)))
    shot(page, output_dir, "oidc-01-provider-login")
    page.fill("input[name=login]", "kim")
    page.fill("input[name=password]", "anything")
    page.click("button[type=submit]")
    page.click("button[type=submit]")  # the provider's consent screen
    expect(page.locator("h1")).to_have_text("Instances", timeout=15_000)
    shot(page, output_dir, "oidc-02-signed-in")
    user = User.objects.get(email="kim@sso.example.com")
    assert user.socialaccount_set.get().provider == "testsso"
    assert user.emailaddress_set.get().verified
    assert Membership.objects.get(user=user).role == "owner"  # and a team of their own


@pytest.mark.django_db(transaction=True)
def test_google_github_microsoft_are_enabled_from_settings():
    import json
    import sys

    env = {**os.environ, "DATABASE_URL": shared_database_url(), "TENANTRY_SOCIAL_PROVIDERS": json.dumps({
        "google": {"client_id": "g-id", "secret": "g-secret"}, "github": {"client_id": "h-id", "secret": "h"},
        "microsoft": {"client_id": "m-id", "secret": "m", "settings": {"tenant": "organizations"}}})}
    code = ("import django, os; os.environ['DJANGO_SETTINGS_MODULE']='tenantry.settings'; django.setup();"
            "from allauth.socialaccount.adapter import get_adapter;"
            "print(sorted(p.id for p in get_adapter().list_providers(None)))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['github', 'google', 'microsoft']"
    env["TENANTRY_SOCIAL_PROVIDERS"] = json.dumps({"myspace": {"client_id": "x"}})
    bad = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "unsupported ['myspace']" in bad.stderr
