"""Invitations by email (real SMTP), API keys shown once, MFA with TOTP and recovery codes."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tenantry.accounts.models import ApiKey, Invitation, Membership, Role
from tenantry.accounts.services.api_keys import api_key_authenticate
from tests.dashboard.helpers import PASSWORD, make_user, signed_in


@pytest.mark.django_db(transaction=True)
def test_invitation_by_email_is_accepted_once_and_expires(mailbox):
    owner = make_user("owner@example.com")
    team = owner.memberships.get().team
    client = signed_in(owner)
    response = client.post(reverse("dashboard:team", args=[team.slug]), {"email": "New@Example.com",
                                                                          "role": Role.ADMIN})
    assert response.status_code == 302
    message = mailbox.wait_for("new@example.com")
    assert team.name in message["Subject"]
    assert "Accept the invitation" in mailbox.html(message)  # HTML body, and a plain one
    link = mailbox.link(message, "/invitations/")
    path = "/" + link.split("://", 1)[1].split("/", 1)[1]
    duplicate = client.post(reverse("dashboard:team", args=[team.slug]), {"email": "new@example.com",
                                                                           "role": Role.ADMIN})
    assert b"already has an open invitation" in duplicate.content

    invited = make_user("new@example.com")
    invited_client = signed_in(invited)
    assert b"Join" in invited_client.get(path).content
    accepted = invited_client.post(path)
    assert accepted.status_code == 302 and accepted["Location"] == f"/t/{team.slug}/"
    assert Membership.objects.get(team=team, user=invited).role == Role.ADMIN
    assert invited_client.post(path).status_code == 404  # used

    # someone else's invitation cannot be taken, and an expired one is refused
    client.post(reverse("dashboard:team", args=[team.slug]), {"email": "late@example.com", "role": Role.MEMBER})
    late_link = mailbox.link(mailbox.wait_for("late@example.com"), "/invitations/")
    late_path = "/" + late_link.split("://", 1)[1].split("/", 1)[1]
    stranger = signed_in(make_user("stranger@example.com"))
    assert stranger.post(late_path).status_code == 422
    Invitation.objects.filter(email="late@example.com").update(expires_at=timezone.now() - timedelta(minutes=1))
    late = signed_in(make_user("late@example.com"))
    assert late.get(late_path).status_code == 404
    assert not Membership.objects.filter(team=team, user__email="late@example.com").exists()


@pytest.mark.django_db(transaction=True)
def test_api_keys_page_shows_a_key_once_and_revokes_it():
    owner = make_user("keys@example.com")
    team = owner.memberships.get().team
    client = signed_in(owner)
    page = client.post(reverse("dashboard:api_keys", args=[team.slug]), {"name": "deploy bot", "scope": "read"})
    plaintext = re.search(rb'id="new-key">([^<]+)<', page.content).group(1).decode()
    key = ApiKey.objects.get(team=team)
    assert api_key_authenticate(plaintext) == key and key.scope == "read" and key.created_by == owner
    listing = client.get(reverse("dashboard:api_keys", args=[team.slug])).content.decode()
    assert plaintext not in listing and key.prefix in listing  # never shown again
    api = Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert api.get("/api/v1/instances").status_code == 200
    client.post(reverse("dashboard:api_key_revoke", args=[team.slug, key.prefix]))
    assert api.get("/api/v1/instances").status_code == 401


@pytest.mark.django_db(transaction=True)
def test_mfa_totp_enrolment_login_and_single_use_recovery_codes():
    user = make_user("mfa@example.com")
    client = Client()
    assert client.post("/accounts/login/", {"login": "mfa@example.com", "password": PASSWORD}).status_code == 302
    page = client.get("/accounts/2fa/totp/activate/")
    if page.status_code == 302:  # sensitive: allauth asks for the password again first
        assert "/accounts/reauthenticate/" in page["Location"]
        client.post(page["Location"], {"password": PASSWORD})
        page = client.get("/accounts/2fa/totp/activate/")
    secret = re.search(r'value="([A-Z2-7]{16,})"', page.content.decode()).group(1)
    activated = client.post("/accounts/2fa/totp/activate/", {"code": pyotp.TOTP(secret).now()})
    assert activated.status_code == 302
    codes_page = client.get("/accounts/2fa/recovery-codes/").content.decode()
    textarea = re.search(r'<textarea[^>]*id="recovery_codes"[^>]*>(.*?)</textarea>', codes_page, re.S).group(1)
    codes = textarea.split()
    assert codes, codes_page[:500]
    client.post("/accounts/logout/")

    def login(second_factor: str) -> Client:
        browser = Client()
        first = browser.post("/accounts/login/", {"login": "mfa@example.com", "password": PASSWORD})
        assert first.status_code == 302 and "/accounts/2fa/authenticate/" in first["Location"]
        browser.post("/accounts/2fa/authenticate/", {"code": second_factor})
        return browser

    assert login("000000").get("/account/").status_code == 302  # wrong code: still signed out
    assert login(pyotp.TOTP(secret).now()).get("/account/").status_code == 200
    code = codes[0]
    assert login(code).get("/account/").status_code == 200
    assert login(code).get("/account/").status_code == 302  # a recovery code works once
    assert user.authenticator_set.count() == 2  # TOTP and recovery codes


@pytest.mark.django_db(transaction=True)
def test_invitee_without_an_account_signs_up_and_comes_back_to_the_invitation(mailbox):
    owner = make_user("boss@example.com")
    team = owner.memberships.get().team
    signed_in(owner).post(reverse("dashboard:team", args=[team.slug]), {"email": "newbie@example.com",
                                                                         "role": Role.MEMBER})
    link = mailbox.link(mailbox.wait_for("newbie@example.com"), "/invitations/")
    path = "/" + link.split("://", 1)[1].split("/", 1)[1]
    browser = Client()
    first = browser.get(path)
    assert first.status_code == 302 and first["Location"] == "/accounts/signup/"
    browser.post("/accounts/signup/", {"email": "newbie@example.com", "password1": PASSWORD, "password2": PASSWORD})
    confirm = mailbox.link(mailbox.wait_for("newbie@example.com", count=2), "/accounts/confirm-email/")
    landed = browser.post("/" + confirm.split("://", 1)[1].split("/", 1)[1])
    assert landed.status_code == 302 and landed["Location"] == path
    joined = browser.post(path)
    assert joined.status_code == 302 and joined["Location"] == f"/t/{team.slug}/"
    assert Membership.objects.get(team=team, user__email="newbie@example.com").role == Role.MEMBER
