"""Signup with email verification through a real SMTP server, password reset, and the
transactional mails' two bodies."""

from __future__ import annotations

import pytest
from django.test import Client

from tenantry.accounts.models import Membership, Role, User
from tests.dashboard.helpers import PASSWORD, make_user


@pytest.mark.django_db(transaction=True)
def test_signup_verifies_email_then_lands_on_a_team_dashboard(mailbox):
    client = Client()
    page = client.get("/accounts/signup/")
    assert page.status_code == 200 and b"csrfmiddlewaretoken" in page.content
    response = client.post("/accounts/signup/", {"email": "ada@example.com", "password1": PASSWORD,
                                                 "password2": PASSWORD})
    assert response.status_code == 302
    user = User.objects.get(email="ada@example.com")
    assert not user.emailaddress_set.get().verified
    # not verified yet: the dashboard is out of reach
    assert client.get("/", follow=True).redirect_chain[-1][0].startswith("/accounts/")

    message = mailbox.wait_for("ada@example.com")
    assert "Confirm" in message["Subject"] or "confirm" in mailbox.text(message).lower()
    confirm = mailbox.link(message, "/accounts/confirm-email/")
    path = confirm.split("://", 1)[1].split("/", 1)[1]
    assert client.get(f"/{path}").status_code == 200
    done = client.post(f"/{path}", follow=True)
    assert done.status_code == 200
    assert user.emailaddress_set.get().verified
    membership = Membership.objects.get(user=user)
    assert membership.role == Role.OWNER
    assert done.redirect_chain[-1][0] == f"/t/{membership.team.slug}/"
    assert b"No instance yet" in done.content
    welcome = mailbox.wait_for("ada@example.com", count=2)
    assert welcome["Subject"] == "Welcome to Tenantry"
    assert "Create your first instance" in mailbox.html(welcome) and mailbox.text(welcome)
    assert "Confirm my address" in mailbox.html(message)  # the verification mail has an HTML body too


@pytest.mark.django_db(transaction=True)
def test_password_reset_mail_has_text_and_html_and_works(mailbox):
    make_user("grace@example.com")
    client = Client()
    client.post("/accounts/password/reset/", {"email": "grace@example.com"})
    message = mailbox.wait_for("grace@example.com")
    assert mailbox.text(message)
    link = mailbox.link(message, "/accounts/password/reset/key/")
    path = "/" + link.split("://", 1)[1].split("/", 1)[1]
    form = client.get(path, follow=True)
    assert form.status_code == 200
    new = "an even better passphrase 43"
    done = client.post(form.redirect_chain[-1][0] if form.redirect_chain else path,
                       {"password1": new, "password2": new})
    assert done.status_code == 302
    assert Client().login(email="grace@example.com", password=new)


@pytest.mark.django_db(transaction=True)
def test_login_failures_are_rate_limited():
    make_user("limited@example.com")
    client = Client()
    answers = [client.post("/accounts/login/", {"login": "limited@example.com", "password": "wrong"}).content
               for _ in range(7)]
    assert b"Too many failed login attempts" not in answers[0]  # first: the plain form error
    assert b"Too many failed login attempts" in answers[-1]  # then: locked for this account
    # even the right password is refused while the limit holds
    right = client.post("/accounts/login/", {"login": "limited@example.com", "password": PASSWORD})
    assert b"Too many failed login attempts" in right.content


@pytest.mark.django_db(transaction=True)
def test_language_follows_the_browser_unless_the_user_chose_one():
    user = make_user("lang@example.com")
    team = user.memberships.get().team
    client = Client(HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9")
    client.force_login(user)
    page = client.get(f"/t/{team.slug}/").content.decode()
    assert '<html lang="fr">' in page and "Déconnexion" in page
    assert "Sign Up" not in Client(HTTP_ACCEPT_LANGUAGE="fr").get("/accounts/signup/").content.decode()
    user.language = "en"
    user.save()
    page = client.get(f"/t/{team.slug}/").content.decode()
    assert '<html lang="en">' in page and "Sign out" in page
