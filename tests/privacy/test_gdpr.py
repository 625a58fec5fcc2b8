"""GDPR: a person's export holds their data and nobody else's (JSON + invoice PDFs); erasure
removes them from every table (walked through the model graph) and they cannot sign in; the
law's invoices stay with their legal fields; someone else's export is a 404; teams are deleted
with their instances, their backups purged after the retention."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from django.apps import apps
from django.db import models
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tenantry.accounts.models import ApiKey, Invitation, Membership, Role, Team, User
from tenantry.accounts.services.api_keys import api_key_create
from tenantry.billing.models import Invoice
from tenantry.billing.services import subscription_checkout
from tenantry.core.errors import Conflict
from tenantry.core.models import AuditEvent
from tenantry.notifications.models import Notification
from tenantry.privacy.models import TeamDeletion
from tenantry.privacy.services.erase import user_erase
from tenantry.privacy.services.teams import team_deletions_purge
from tests.billing.billing_helpers import make_plan, make_team
from tests.dashboard.helpers import PASSWORD, signed_in

pytestmark = pytest.mark.django_db(transaction=True)

ANA = "ana@example.com"


def _customer(slug: str, email: str, plan, capture) -> tuple[User, Team, Invoice]:
    team = make_team(slug, email=email)
    user = User.objects.get(email=email)
    user.set_password(PASSWORD)
    user.first_name, user.last_name = "Anastasia" if email == ANA else "Robert", "Zebulon" if email == ANA else "Q"
    user.save()
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    with capture(execute=True):
        subscription = subscription_checkout(team=team, plan=plan, interval="month", actor=f"user:{email}")
    invoice = Invoice.objects.get(subscription=subscription)
    assert invoice.number is not None
    return user, team, invoice


@pytest.fixture()
def people(django_capture_on_commit_callbacks):
    plan = make_plan()
    ana, ana_team, ana_invoice = _customer("anaco", ANA, plan, django_capture_on_commit_callbacks)
    bob, bob_team, bob_invoice = _customer("bobco", "bob@example.com", plan, django_capture_on_commit_callbacks)
    Notification.objects.create(user=ana, team=ana_team, event_type="instance.ready", title="Your n8n is ready")
    Notification.objects.create(user=bob, team=bob_team, event_type="instance.ready", title="Bob's secret project")
    api_key_create(team=ana_team, name="ana's laptop", created_by=ana, actor=f"user:{ANA}")
    client = signed_in(ana)
    client.post(reverse("dashboard:team", args=[ana_team.slug]), {"email": "dan@example.com", "role": "member"},
                HTTP_USER_AGENT="Firefox/ana", REMOTE_ADDR="203.0.113.9")
    # Bob invites Ana into his team: a row that mentions her without pointing at her.
    Invitation.objects.create(team=bob_team, email=ANA, role=Role.MEMBER, token_hash="x" * 64,
                              invited_by=bob, expires_at=timezone.now() + timedelta(days=3))
    return ana, ana_team, ana_invoice, bob, bob_team, bob_invoice


def _zip(response) -> zipfile.ZipFile:
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    return zipfile.ZipFile(io.BytesIO(response.content))


def test_export_holds_the_users_data_and_invoices_and_nobody_elses(people):
    ana, _ana_team, ana_invoice, _bob, _, bob_invoice = people
    archive = _zip(signed_in(ana).get(reverse("dashboard:data_export")))
    data = json.loads(archive.read("data.json"))
    assert data["user"]["email"] == ANA and data["user"]["last_name"] == "Zebulon"
    assert "password" not in data["user"]
    assert [t["team"]["slug"] for t in data["teams"]] == ["anaco"]
    assert data["related"]["notifications.notification"][0]["title"] == "Your n8n is ready"
    assert data["invitations_received"][0]["team"] == str(people[4].pk)
    assert any(row["action"] == "invitation.create" and row["ip"] == "203.0.113.9" for row in data["audit_trail"])
    assert "hashed" not in json.dumps(data["related"].get("accounts.apikey", []))
    assert [i["number"] for i in data["invoices"]] == [ana_invoice.display_number]
    pdf = archive.read(f"invoices/{ana_invoice.display_number}.pdf")
    assert pdf.startswith(b"%PDF")
    text = archive.read("data.json").decode()
    assert "bob@example.com" not in text and "Bob's secret project" not in text
    assert bob_invoice.display_number not in text
    assert sorted(archive.namelist()) == sorted(["data.json", f"invoices/{ana_invoice.display_number}.pdf"])


def test_someone_elses_export_is_not_found_except_for_staff(people):
    ana, _, _, bob, _, _ = people
    assert signed_in(ana).get(reverse("dashboard:user_export", args=[bob.pk])).status_code == 404
    assert signed_in(ana).get(reverse("dashboard:user_export", args=[10**9])).status_code == 404
    assert _zip(signed_in(ana).get(reverse("dashboard:user_export", args=[ana.pk])))
    staff = User.objects.create_user(email="op@example.com", password=PASSWORD, is_staff=True)
    data = json.loads(_zip(signed_in(staff).get(reverse("dashboard:user_export", args=[bob.pk]))).read("data.json"))
    assert data["user"]["email"] == "bob@example.com"


def _text_columns() -> list[tuple[type[models.Model], str]]:
    return [(model, field.attname) for model in apps.get_models() if model._meta.managed
            for field in model._meta.concrete_fields
            if isinstance(field, models.CharField | models.TextField | models.JSONField)]


def _mentions(needle: str) -> list[str]:
    found = []
    for model, column in _text_columns():
        for value in model._default_manager.values_list(column, flat=True):
            if value is not None and needle.lower() in json.dumps(value, default=str).lower():
                found.append(f"{model._meta.label}.{column}")
    return found


def test_erase_removes_the_person_everywhere_keeps_invoices_and_blocks_login(people):
    ana, ana_team, ana_invoice, bob, bob_team, bob_invoice = people
    assert _mentions(ANA) and _mentions("Zebulon")  # the walk finds them before
    ana_id = ana.pk
    client = signed_in(ana)
    refused = client.post(reverse("dashboard:account_erase"), {"confirm": "not-me@example.com"})
    assert refused.status_code == 422 and User.objects.filter(pk=ana_id).exists()
    response = client.post(reverse("dashboard:account_erase"), {"confirm": ANA.upper()},
                           HTTP_USER_AGENT="Firefox/ana")
    assert response.status_code == 302
    assert not User.objects.filter(pk=ana_id).exists()
    assert not Client().login(email=ANA, password=PASSWORD)
    assert Client().post(reverse("account_login"), {"login": ANA, "password": PASSWORD}).status_code == 200
    # Every model with a foreign key to the user: no row left that points at her.
    for relation in User._meta.related_objects:
        model = relation.related_model
        assert not model._default_manager.filter(**{f"{relation.field.name}_id": ana_id}).exists(), model
    assert not AuditEvent.objects.filter(actor_user_id=ana_id).exclude(action="user.erase").exists()
    assert _mentions(ANA) == [] and _mentions("Zebulon") == [] and _mentions("Anastasia") == []
    # Her invoice is kept with its legal fields; only the contact address went.
    kept = Invoice.objects.get(pk=ana_invoice.pk)
    assert kept.display_number == ana_invoice.display_number and kept.total_minor == ana_invoice.total_minor
    assert kept.buyer["name"] == "Anaco SAS" and kept.buyer["country"] == "FR" and kept.buyer["email"] == ""
    # The team she was alone in is being deleted; Bob and his team are untouched.
    assert TeamDeletion.objects.filter(team=ana_team).exists()
    assert not Membership.objects.filter(team=ana_team).exists()
    assert not ApiKey.objects.filter(team=ana_team, revoked_at__isnull=True).exists()
    assert User.objects.filter(pk=bob.pk).exists() and Membership.objects.filter(team=bob_team, user=bob).exists()
    assert Invoice.objects.get(pk=bob_invoice.pk).buyer["email"] == "bob@example.com"
    assert Notification.objects.filter(user=bob, title="Bob's secret project").exists()
    assert AuditEvent.objects.filter(action="user.erase").count() == 1


def test_last_owner_of_a_team_with_others_must_hand_it_over_first(people):
    ana, ana_team, _, _, _, _ = people
    other = User.objects.create_user(email="eve@example.com", password=PASSWORD)
    Membership.objects.create(team=ana_team, user=other, role=Role.MEMBER)
    with pytest.raises(Conflict) as caught:
        user_erase(user=ana, actor="test")
    assert caught.value.code == "last_owner" and caught.value.details == {"teams": ["anaco"]}
    assert User.objects.filter(pk=ana.pk).exists() and not TeamDeletion.objects.exists()
    page = signed_in(ana).post(reverse("dashboard:account_erase"), {"confirm": ANA})
    assert page.status_code == 422 and b"last owner" in page.content


def test_team_deletion_purges_after_the_retention(people, settings):
    ana, ana_team, ana_invoice, _, _, _ = people
    client = signed_in(ana)
    wrong = client.post(reverse("dashboard:team_delete", args=[ana_team.slug]), {"confirm": "nope"})
    assert wrong.status_code == 302 and not TeamDeletion.objects.exists()
    done = client.post(reverse("dashboard:team_delete", args=[ana_team.slug]), {"confirm": ana_team.slug})
    assert done.status_code == 302
    deletion = TeamDeletion.objects.get(team=ana_team)
    assert deletion.purge_after - timezone.now() > timedelta(days=29)
    assert client.get(reverse("dashboard:overview", args=[ana_team.slug])).status_code == 404
    assert team_deletions_purge() == 0  # not before the retention
    assert team_deletions_purge(now=deletion.purge_after + timedelta(minutes=1)) == 1
    team = Team.objects.get(pk=ana_team.pk)
    assert team.name == "Deleted team" and not team.api_keys.exists()
    assert Invoice.objects.filter(pk=ana_invoice.pk).exists()  # kept by law
    assert team_deletions_purge(now=deletion.purge_after + timedelta(days=1)) == 0


def test_a_member_cannot_delete_the_team(people):
    _, ana_team, _, _, _, _ = people
    admin = User.objects.create_user(email="adm@example.com", password=PASSWORD)
    Membership.objects.create(team=ana_team, user=admin, role=Role.ADMIN)
    response = signed_in(admin).post(reverse("dashboard:team_delete", args=[ana_team.slug]),
                                     {"confirm": ana_team.slug})
    assert response.status_code == 404 and not TeamDeletion.objects.exists()


def _ip_and_text_columns() -> list[tuple[type[models.Model], str]]:
    kinds = models.CharField | models.TextField | models.JSONField | models.GenericIPAddressField
    return [(model, field.attname) for model in apps.get_models() if model._meta.managed
            for field in model._meta.concrete_fields if isinstance(field, kinds)]


def test_after_erase_no_table_holds_the_persons_email_ip_or_user_agent(people):
    ana, ana_team, _, _, _, _ = people
    ip, agent = "203.0.113.9", "Firefox/ana"  # the fixture's invitation came from there
    client = signed_in(ana)
    assert client.post(reverse("dashboard:account"), {"first_name": "Ana", "last_name": "Zebulon",
                                                             "language": "fr"},
                       HTTP_USER_AGENT=agent, REMOTE_ADDR=ip).status_code == 302
    response = client.post(reverse("dashboard:account_erase"), {"confirm": ANA}, HTTP_USER_AGENT=agent,
                           REMOTE_ADDR=ip)
    assert response.status_code == 302
    row = AuditEvent.objects.get(action="user.erase")
    assert (row.ip, row.user_agent, row.actor_user_id) == (None, "", None)
    assert row.actor.startswith("user:erased-")
    # Every text, JSON and IP column of every table (Django's, allauth's and Tenantry's).
    columns = _ip_and_text_columns()
    assert any(column == "ip" for _, column in columns)
    leaks = [f"{model._meta.label}.{column}" for model, column in columns
             for value in model._default_manager.values_list(column, flat=True)
             if value is not None and any(needle in json.dumps(value, default=str).lower()
                                          for needle in (ANA, ip, agent.lower()))]
    assert leaks == []
    assert AuditEvent.objects.filter(team_id=ana_team.pk, action="team.delete").exists()
