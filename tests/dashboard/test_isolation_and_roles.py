"""Every dashboard view is scoped to the signed-in user's teams, and roles do what the
permission table says."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tenantry.accounts.access import Access
from tenantry.accounts.models import ApiKey, Invitation, Membership, Role
from tenantry.accounts.permissions import PERMISSIONS
from tenantry.accounts.services.api_keys import api_key_create
from tenantry.accounts.services.invitations import invitation_create
from tenantry.instances.models import Operation, Status
from tests.billing.entitlement_helpers import subscribe
from tests.dashboard.helpers import make_user, signed_in
from tests.instances.helpers import create, fresh

pytestmark = [pytest.mark.docker]


@pytest.fixture()
def world(platform):
    alice = make_user("alice@example.com")
    bob = make_user("bob@example.com")
    team_a = alice.memberships.get().team
    team_b = bob.memberships.get().team
    subscribe(team_b)
    b_instance, _ = create("bobs-app", team=team_b)
    key = api_key_create(team=team_b, name="bob key").key
    invitation = invitation_create(access=Access(team=team_b, user=bob, role=Role.OWNER), email="x@example.com",
                                   role=Role.MEMBER, send=False).invitation
    b_membership = Membership.objects.get(user=bob)
    return {"alice": alice, "bob": bob, "team_a": team_a, "team_b": team_b, "instance": b_instance, "key": key,
            "invitation": invitation, "membership": b_membership}


def _team_b_urls(w) -> list[tuple[str, str]]:
    b, i = w["team_b"].slug, w["instance"]
    get = [reverse(name, args=[b]) for name in ("dashboard:overview", "dashboard:instance_create", "dashboard:team",
                                                 "dashboard:api_keys")]
    get += [reverse("dashboard:instance", args=[b, ref]) for ref in (i.slug, str(i.id))]
    get += [reverse("dashboard:instance_progress", args=[b, i.slug])]
    post = [reverse("dashboard:instance_action", args=[b, i.slug, name])
            for name in ("start", "stop", "restart", "hibernate", "wake")]
    post += [reverse("dashboard:instance_delete", args=[b, i.slug]), reverse("dashboard:instance_create", args=[b]),
             reverse("dashboard:member_role", args=[b, w["membership"].id]),
             reverse("dashboard:member_remove", args=[b, w["membership"].id]),
             reverse("dashboard:invitation_cancel", args=[b, w["invitation"].id]),
             reverse("dashboard:api_keys", args=[b]), reverse("dashboard:api_key_revoke", args=[b, w["key"].prefix]),
             reverse("dashboard:team", args=[b])]
    return [("GET", u) for u in get] + [("POST", u) for u in post]


def test_another_teams_pages_are_404_everywhere(world):
    client = signed_in(world["alice"])
    calls = _team_b_urls(world)
    assert len(calls) == 20
    for method, url in calls:
        response = client.get(url) if method == "GET" else client.post(url, {"confirm": "bobs-app", "role": "owner",
                                                                            "email": "evil@example.com",
                                                                            "name": "k", "slug": "sneaky",
                                                                            "app": "hello"})
        assert response.status_code == 404, (method, url, response.status_code)
    # A's own team URLs with B's instance are 404 too
    a = world["team_a"].slug
    for ref in ("bobs-app", str(world["instance"].id)):
        assert client.get(reverse("dashboard:instance", args=[a, ref])).status_code == 404
        assert client.post(reverse("dashboard:instance_action", args=[a, ref, "stop"])).status_code == 404
    # nothing happened on B's side
    assert Operation.objects.filter(instance=world["instance"]).count() == 1
    assert fresh(world["instance"]).status == Status.RUNNING
    assert Membership.objects.filter(team=world["team_b"]).count() == 1
    assert not ApiKey.objects.get(pk=world["key"].pk).revoked_at
    assert Invitation.objects.get(pk=world["invitation"].pk).revoked_at is None
    assert b"bobs-app" not in client.get(reverse("dashboard:overview", args=[a])).content
    # an anonymous visitor is sent to the login page
    from django.test import Client

    anonymous = Client().get(reverse("dashboard:overview", args=[world["team_b"].slug]))
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]


def test_roles_follow_the_permission_table(world):
    team, instance = world["team_b"], world["instance"]
    people = {role: make_user(f"{role}@example.com", team=team, role=role)
              for role in (Role.ADMIN, Role.MEMBER, Role.BILLING)}
    pages = {"instance.view": reverse("dashboard:overview", args=[team.slug]),
             "team.view_members": reverse("dashboard:team", args=[team.slug]),
             "team.manage_api_keys": reverse("dashboard:api_keys", args=[team.slug])}
    for role, user in people.items():
        client = signed_in(user)
        for permission, url in pages.items():
            expected = 200 if role in PERMISSIONS[permission] else 404
            assert client.get(url).status_code == expected, (role, permission)

    # a member cannot delete the team's instance…
    member = signed_in(people[Role.MEMBER])
    refused = member.post(reverse("dashboard:instance_delete", args=[team.slug, instance.slug]),
                          {"confirm": instance.slug})
    assert refused.status_code == 404 and fresh(instance).status == Status.RUNNING
    # …but may stop and start it
    member.post(reverse("dashboard:instance_action", args=[team.slug, instance.slug, "stop"]))
    assert fresh(instance).status == Status.STOPPED
    # the billing member cannot operate it
    billing = signed_in(people[Role.BILLING])
    assert billing.post(reverse("dashboard:instance_action", args=[team.slug, instance.slug, "start"])).status_code \
        == 404
    # an admin deletes it, after typing its name
    admin = signed_in(people[Role.ADMIN])
    wrong = admin.post(reverse("dashboard:instance_delete", args=[team.slug, instance.slug]), {"confirm": "nope"})
    assert wrong.status_code == 422 and b"does not match" in wrong.content
    assert fresh(instance).status == Status.STOPPED
    done = admin.post(reverse("dashboard:instance_delete", args=[team.slug, instance.slug]),
                      {"confirm": instance.slug})
    assert done.status_code == 302
    assert fresh(instance).status == Status.DELETED


def test_last_owner_cannot_leave_and_admins_cannot_touch_owners(world):
    team, bob = world["team_b"], world["bob"]
    client = signed_in(bob)
    own = Membership.objects.get(team=team, user=bob)
    response = client.post(reverse("dashboard:member_remove", args=[team.slug, own.id]), follow=True)
    assert b"last owner cannot leave" in response.content
    assert Membership.objects.filter(pk=own.pk).exists()
    admin = make_user("admin2@example.com", team=team, role=Role.ADMIN)
    signed_in(admin).post(reverse("dashboard:member_role", args=[team.slug, own.id]), {"role": "member"})
    assert Membership.objects.get(pk=own.pk).role == Role.OWNER
    signed_in(admin).post(reverse("dashboard:member_remove", args=[team.slug, own.id]))
    assert Membership.objects.filter(pk=own.pk).exists()
    # with a second owner, the first may leave
    second = Membership.objects.get(user=admin)
    client.post(reverse("dashboard:member_role", args=[team.slug, second.id]), {"role": "owner"})
    assert Membership.objects.get(pk=second.pk).role == Role.OWNER
    client.post(reverse("dashboard:member_remove", args=[team.slug, own.id]))
    assert not Membership.objects.filter(pk=own.pk).exists()


def test_operator_overview_is_for_staff_only(world, admin_client):
    from tenantry.instances import services

    assert signed_in(world["alice"]).get(reverse("dashboard:operator")).status_code == 302  # to the admin login
    page = admin_client.get(reverse("dashboard:operator"))
    assert page.status_code == 200
    assert b'data-count="Running">1<' in page.content
    services.instance_stop(instance=world["instance"], actor="test")
    assert b'data-count="Stopped">1<' in admin_client.get(reverse("dashboard:operator")).content
    teams = admin_client.get("/admin/accounts/team/?q=Team+B")
    assert teams.status_code == 200 and b"Team B" in teams.content
    users = admin_client.get("/admin/accounts/user/?q=bob")
    assert b"bob@example.com" in users.content
    by_team = admin_client.get(f"/admin/instances/instance/?team__id__exact={world['team_b'].id}")
    assert b"bobs-app" in by_team.content
