"""The team API: teams, members, invitations, API keys, account data — by key or by session,
always scoped (another team is a 404), keys never manage people or keys, billing rights for a
key only when given explicitly and only by someone who holds them."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.test import Client

from tenantry.accounts.models import ApiKey, Invitation, Membership, Role
from tenantry.accounts.services.api_keys import api_key_create
from tenantry.billing.models import BillingAccount
from tenantry.privacy.models import TeamDeletion
from tests.dashboard.helpers import make_user

pytestmark = pytest.mark.django_db


def _session(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def _csrf(client: Client) -> dict:
    client.get("/account/")
    return {"HTTP_X_CSRFTOKEN": client.cookies["csrftoken"].value}


@pytest.fixture()
def world():
    ana = make_user("ana@example.com")
    team = ana.memberships.get().team
    bob = make_user("bob@example.com")
    return ana, team, bob, bob.memberships.get().team


def _key(team, **kw) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {api_key_create(team=team, name='k', **kw).plaintext}")


def test_a_key_sees_its_team_only(world):
    _, team, _, other = world
    client = _key(team, scope="read")
    assert [t["slug"] for t in client.get("/api/v1/teams").json()] == [team.slug]
    assert client.get(f"/api/v1/teams/{team.slug}").json()["role"] is None
    for path in (f"/api/v1/teams/{other.slug}", f"/api/v1/teams/{other.slug}/members",
                 f"/api/v1/teams/{other.slug}/invitations", f"/api/v1/teams/{other.slug}/api-keys"):
        response = client.get(path)
        assert response.status_code == 404 and response.json()["code"] == "team_not_found", path
    members = client.get(f"/api/v1/teams/{team.slug}/members").json()
    assert members["count"] == 1 and members["items"][0]["email"] == "ana@example.com"


def test_keys_never_manage_people_or_keys(world):
    _, team, _, _ = world
    client = _key(team)  # read-write
    calls = [client.post(f"/api/v1/teams/{team.slug}/invitations", {"email": "x@example.com"},
                         content_type="application/json"),
             client.post(f"/api/v1/teams/{team.slug}/api-keys", {"name": "more"}, content_type="application/json"),
             client.get(f"/api/v1/teams/{team.slug}/api-keys"),
             client.delete(f"/api/v1/teams/{team.slug}"),
             client.post("/api/v1/teams", {"name": "new"}, content_type="application/json")]
    for response in calls:
        assert response.status_code == 403, response.content
        assert response.json()["code"] in ("forbidden", "person_required")
    assert not Invitation.objects.exists() and ApiKey.objects.count() == 1 and not TeamDeletion.objects.exists()


def test_an_owner_manages_the_team_by_session(world, mailoutbox):
    ana, team, bob, other = world
    client = _session(ana)
    csrf = _csrf(client)
    renamed = client.patch(f"/api/v1/teams/{team.slug}", {"name": "Ana & Co"}, content_type="application/json", **csrf)
    assert renamed.status_code == 200 and renamed.json()["name"] == "Ana & Co"
    invited = client.post(f"/api/v1/teams/{team.slug}/invitations", {"email": "Dan@Example.com", "role": "admin"},
                          content_type="application/json", **csrf)
    assert invited.status_code == 201 and invited.json()["email"] == "dan@example.com"
    assert any("dan@example.com" in m.to for m in mailoutbox)
    again = client.post(f"/api/v1/teams/{team.slug}/invitations", {"email": "dan@example.com"},
                        content_type="application/json", **csrf)
    assert again.status_code == 409 and again.json()["code"] == "already_invited"
    listed = client.get(f"/api/v1/teams/{team.slug}/invitations").json()
    assert listed["count"] == 1
    gone = client.delete(f"/api/v1/teams/{team.slug}/invitations/{listed['items'][0]['id']}", **csrf)
    assert gone.status_code == 204
    assert client.get(f"/api/v1/teams/{team.slug}/invitations").json()["count"] == 0
    # Members: change a role, remove; another team's member is a 404.
    carl = make_user("carl@example.com", team=team, role=Role.MEMBER)
    membership = carl.memberships.get(team=team)
    role = client.patch(f"/api/v1/teams/{team.slug}/members/{membership.pk}", {"role": "billing"},
                        content_type="application/json", **csrf)
    assert role.status_code == 200 and role.json()["role"] == "billing"
    bobs = bob.memberships.get(team=other)
    assert client.patch(f"/api/v1/teams/{team.slug}/members/{bobs.pk}", {"role": "member"},
                        content_type="application/json", **csrf).status_code == 404
    assert client.delete(f"/api/v1/teams/{team.slug}/members/not-a-uuid", **csrf).status_code == 404
    assert client.delete(f"/api/v1/teams/{team.slug}/members/{membership.pk}", **csrf).status_code == 204
    assert not Membership.objects.filter(pk=membership.pk).exists()
    # Without the CSRF token a session cannot write.
    assert client.patch(f"/api/v1/teams/{team.slug}", {"name": "x"}, content_type="application/json").status_code == 403
    # A new team, owned by the caller.
    created = client.post("/api/v1/teams", {"name": "Side project"}, content_type="application/json", **csrf)
    assert created.status_code == 201 and created.json()["role"] == "owner"
    assert len(client.get("/api/v1/teams").json()) == 2


def test_api_keys_and_explicit_billing_rights(world):
    ana, team, _, _ = world
    BillingAccount.objects.create(team=team, country="FR")
    admin = make_user("adm@example.com", team=team, role=Role.ADMIN)
    client = _session(ana)
    csrf = _csrf(client)
    plain = client.post(f"/api/v1/teams/{team.slug}/api-keys", {"name": "ci"}, content_type="application/json",
                        **csrf).json()
    assert plain["key"]["billing"] == "" and plain["secret"].startswith("tn_")
    no_billing = Client(HTTP_AUTHORIZATION=f"Bearer {plain['secret']}")
    assert no_billing.get(f"/api/v1/billing/{team.slug}/invoices").status_code == 403
    billing = client.post(f"/api/v1/teams/{team.slug}/api-keys", {"name": "accounting", "billing": "read"},
                          content_type="application/json", **csrf).json()
    reader = Client(HTTP_AUTHORIZATION=f"Bearer {billing['secret']}")
    assert reader.get(f"/api/v1/billing/{team.slug}/invoices").status_code == 200
    listing = client.get(f"/api/v1/teams/{team.slug}/api-keys").json()
    assert listing["count"] == 2 and "secret" not in json.dumps(listing) and "hashed" not in json.dumps(listing)
    # An admin has no billing rights, so cannot give them to a key.
    admin_client = _session(admin)
    refused = admin_client.post(f"/api/v1/teams/{team.slug}/api-keys", {"name": "sneaky", "billing": "manage"},
                                content_type="application/json", **_csrf(admin_client))
    assert refused.status_code == 403 and ApiKey.objects.filter(name="sneaky").count() == 0
    bad = client.post(f"/api/v1/teams/{team.slug}/api-keys", {"name": "x", "billing": "everything"},
                      content_type="application/json", **csrf)
    assert bad.status_code == 422 and bad.json()["details"]["field"] == "billing"
    revoked = client.delete(f"/api/v1/teams/{team.slug}/api-keys/{billing['key']['prefix']}", **csrf)
    assert revoked.status_code == 204
    assert reader.get(f"/api/v1/billing/{team.slug}/invoices").status_code == 401


def test_account_export_and_someone_elses_is_not_found(world):
    ana, _, bob, _ = world
    client = _session(ana)
    archive = zipfile.ZipFile(io.BytesIO(client.get("/api/v1/account/export").content))
    assert json.loads(archive.read("data.json"))["user"]["email"] == "ana@example.com"
    other = client.get(f"/api/v1/account/users/{bob.pk}/export")
    assert other.status_code == 404 and other.json()["code"] == "user_not_found"
    assert client.get(f"/api/v1/account/users/{ana.pk}/export").status_code == 200
    assert Client().get("/api/v1/account/export").status_code == 401


def test_account_erase_by_api(world):
    ana, team, _, _ = world
    client = _session(ana)
    csrf = _csrf(client)
    wrong = client.post("/api/v1/account/erase", {"confirm": "bob@example.com"}, content_type="application/json",
                        **csrf)
    assert wrong.status_code == 422
    done = client.post("/api/v1/account/erase", {"confirm": "ana@example.com"}, content_type="application/json",
                       **csrf)
    assert done.status_code == 200 and done.json() == {"erased": True, "teams_deleted": [team.slug]}
    assert client.get("/api/v1/account/export").status_code == 401


def test_profile_and_invitation_acceptance_by_api(world):
    ana, team, bob, _ = world
    from tenantry.accounts.access import Access
    from tenantry.accounts.services.invitations import invitation_create
    from tenantry.core.models import AuditEvent

    client = _session(bob)
    csrf = _csrf(client)
    assert client.get("/api/v1/account/profile").json()["email"] == "bob@example.com"
    changed = client.patch("/api/v1/account/profile", {"first_name": "Bob", "language": "fr"},
                           content_type="application/json", **csrf)
    assert changed.status_code == 200 and changed.json()["language"] == "fr"
    assert AuditEvent.objects.get(action="user.profile").changes == {"first_name": ["", "Bob"], "language": ["", "fr"]}
    bad = client.patch("/api/v1/account/profile", {"language": "xx"}, content_type="application/json", **csrf)
    assert bad.status_code == 422
    issued = invitation_create(access=Access(team=team, user=ana, role="owner"), email="bob@example.com",
                               role="member", send=False)
    joined = client.post(f"/api/v1/account/invitations/{issued.token}/accept", **csrf)
    assert joined.status_code == 200 and joined.json() == {"team": team.slug, "role": "member"}
    again = client.post(f"/api/v1/account/invitations/{issued.token}/accept", **csrf)
    assert again.status_code == 404 and again.json()["code"] == "invitation_not_found"
