"""Only owners make owners: every role by every invitation/role action, through the services and
through the dashboard views that expose them (members and invitations have no REST endpoint).

The team: two owners (alice, olivia), the actor (alice herself when the role under test is
owner) and a plain member, tom. Each case says what the action is and whether the actor's role
may do it; the test checks the refusal's code and that nothing changed, or that it happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tenantry.accounts.access import Access
from tenantry.accounts.models import Invitation, Membership, Role, Team, User
from tenantry.accounts.services.invitations import invitation_create, invitation_revoke
from tenantry.accounts.services.teams import membership_remove, membership_set_role
from tenantry.core.errors import ApplicationError
from tests.dashboard.helpers import make_user, signed_in

pytestmark = [pytest.mark.django_db]

ROLES = [Role.OWNER, Role.ADMIN, Role.MEMBER, Role.BILLING]
MANAGERS = {Role.OWNER, Role.ADMIN}


@dataclass
class World:
    team: Team
    actor: User
    role: str
    olivia: Membership  # the second owner
    tom: Membership  # a plain member
    owner_invitation: Invitation
    member_invitation: Invitation

    @property
    def access(self) -> Access:
        return Access(team=self.team, user=self.actor, role=self.role)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # 144 cases with 4 users each: the default PBKDF2 would spend minutes hashing test passwords.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(params=ROLES, ids=str)
def world(request) -> World:
    role = request.param
    alice = make_user("alice@example.com")
    team = alice.memberships.get().team
    olivia = make_user("olivia@example.com", team=team, role=Role.OWNER)
    tom = make_user("tom@example.com", team=team, role=Role.MEMBER)
    actor = alice if role == Role.OWNER else make_user(f"{role}@example.com", team=team, role=role)
    owners = Access(team=team, user=alice, role=Role.OWNER)
    owner_invitation = invitation_create(access=owners, email="future-owner@example.com", role=Role.OWNER,
                                         send=False).invitation
    member_invitation = invitation_create(access=owners, email="future-member@example.com", role=Role.MEMBER,
                                          send=False).invitation
    return World(team=team, actor=actor, role=role, olivia=Membership.objects.get(user=olivia),
                 tom=Membership.objects.get(user=tom), owner_invitation=owner_invitation,
                 member_invitation=member_invitation)


def _expected(actor_role: str, touches_owner: bool) -> bool:
    """The permission table: managing members is for owners and admins, owners only for owners."""
    return actor_role == Role.OWNER if touches_owner else actor_role in MANAGERS


def _invited(world: World, role: str) -> bool:
    return Invitation.objects.filter(team=world.team, email="self-second@example.com", role=role).exists()


def _role_of(membership: Membership) -> str | None:
    found = Membership.objects.filter(pk=membership.pk).first()
    return found.role if found else None


def _refused_code(touches_owner: bool, actor_role: str) -> str:
    return "owner_required" if touches_owner and actor_role in MANAGERS else "forbidden"


# --- through the services ------------------------------------------------------------------------

@pytest.mark.parametrize("invited_role", ROLES, ids=str)
def test_service_invite_as_each_role(world: World, invited_role: str):
    allowed = _expected(world.role, invited_role == Role.OWNER)
    if allowed:
        invitation_create(access=world.access, email="self-second@example.com", role=invited_role, send=False)
    else:
        with pytest.raises(ApplicationError) as refused:
            invitation_create(access=world.access, email="self-second@example.com", role=invited_role, send=False)
        assert refused.value.code == _refused_code(invited_role == Role.OWNER, world.role)
        assert refused.value.status == 403
    assert _invited(world, invited_role) is allowed


@pytest.mark.parametrize("new_role", ROLES, ids=str)
def test_service_change_a_members_role_to_each_role(world: World, new_role: str):
    allowed = _expected(world.role, new_role == Role.OWNER)
    if allowed:
        membership_set_role(membership=world.tom, role=new_role, access=world.access)
    else:
        with pytest.raises(ApplicationError) as refused:
            membership_set_role(membership=world.tom, role=new_role, access=world.access)
        assert refused.value.code == _refused_code(new_role == Role.OWNER, world.role)
    assert _role_of(world.tom) == (new_role if allowed else Role.MEMBER)


@pytest.mark.parametrize("new_role", ROLES, ids=str)
def test_service_change_an_owners_role_to_each_role(world: World, new_role: str):
    allowed = _expected(world.role, True)
    if allowed:
        membership_set_role(membership=world.olivia, role=new_role, access=world.access)
    else:
        with pytest.raises(ApplicationError) as refused:
            membership_set_role(membership=world.olivia, role=new_role, access=world.access)
        assert refused.value.code == _refused_code(True, world.role)
    assert _role_of(world.olivia) == (new_role if allowed else Role.OWNER)


@pytest.mark.parametrize("target", ["member", "owner"])
def test_service_remove(world: World, target: str):
    membership = world.olivia if target == "owner" else world.tom
    allowed = _expected(world.role, target == "owner")
    if allowed:
        membership_remove(membership=membership, access=world.access)
    else:
        with pytest.raises(ApplicationError) as refused:
            membership_remove(membership=membership, access=world.access)
        assert refused.value.code == _refused_code(target == "owner", world.role)
    assert (_role_of(membership) is None) is allowed


@pytest.mark.parametrize("target", ["member", "owner"])
def test_service_cancel_invitation(world: World, target: str):
    invitation = world.owner_invitation if target == "owner" else world.member_invitation
    allowed = _expected(world.role, target == "owner")
    if allowed:
        invitation_revoke(access=world.access, invitation_id=str(invitation.pk))
    else:
        with pytest.raises(ApplicationError):
            invitation_revoke(access=world.access, invitation_id=str(invitation.pk))
    invitation.refresh_from_db()
    assert (invitation.revoked_at is not None) is allowed


def test_anyone_may_leave_and_the_last_owner_may_not(world: World):
    if world.role != Role.OWNER:
        membership_remove(membership=Membership.objects.get(user=world.actor), access=world.access)
        assert not Membership.objects.filter(user=world.actor, team=world.team).exists()
    membership_remove(membership=world.olivia, access=Access(team=world.team, user=world.olivia.user,
                                                             role=Role.OWNER))
    alice = Membership.objects.get(user__email="alice@example.com")
    with pytest.raises(ApplicationError) as refused:
        membership_remove(membership=alice, access=Access(team=world.team, user=alice.user, role=Role.OWNER))
    assert refused.value.code == "last_owner"


def test_another_teams_membership_is_not_found(world: World):
    stranger = make_user("stranger@example.com")
    theirs = stranger.memberships.get()
    with pytest.raises(ApplicationError) as refused:
        membership_set_role(membership=theirs, role=Role.MEMBER, access=world.access)
    assert refused.value.code in ("member_not_found", "forbidden")
    with pytest.raises(ApplicationError):
        membership_remove(membership=theirs, access=world.access)
    assert Membership.objects.get(pk=theirs.pk).role == Role.OWNER


def test_an_api_key_never_manages_members(world: World):
    from tenantry.accounts.services.api_keys import api_key_create

    key = api_key_create(team=world.team, name="ci").key
    as_key = Access(team=world.team, api_key=key)
    with pytest.raises(ApplicationError):
        invitation_create(access=as_key, email="self-second@example.com", role=Role.MEMBER, send=False)
    with pytest.raises(ApplicationError):
        membership_set_role(membership=world.tom, role=Role.ADMIN, access=as_key)
    with pytest.raises(ApplicationError):
        membership_remove(membership=world.tom, access=as_key)
    assert _role_of(world.tom) == Role.MEMBER and not _invited(world, Role.MEMBER)


# --- through the dashboard -------------------------------------------------------------------------

@pytest.mark.parametrize("invited_role", ROLES, ids=str)
def test_dashboard_invite_as_each_role(world: World, invited_role: str):
    client = signed_in(world.actor)
    response = client.post(reverse("dashboard:team", args=[world.team.slug]),
                           {"email": "self-second@example.com", "role": invited_role})
    allowed = _expected(world.role, invited_role == Role.OWNER)
    assert _invited(world, invited_role) is allowed
    if world.role not in MANAGERS:
        assert response.status_code == 404
    elif not allowed:  # an admin asking for an owner: the form says why
        assert response.status_code == 200 and b"errorlist" in response.content


@pytest.mark.parametrize("new_role", ROLES, ids=str)
@pytest.mark.parametrize("target", ["member", "owner"])
def test_dashboard_change_role(world: World, new_role: str, target: str):
    membership = world.olivia if target == "owner" else world.tom
    before = membership.role
    client = signed_in(world.actor)
    response = client.post(reverse("dashboard:member_role", args=[world.team.slug, membership.pk]), {"role": new_role})
    allowed = _expected(world.role, target == "owner" or new_role == Role.OWNER)
    assert _role_of(membership) == (new_role if allowed else before)
    assert response.status_code == (302 if world.role in MANAGERS else 404)


@pytest.mark.parametrize("target", ["member", "owner"])
def test_dashboard_remove(world: World, target: str):
    membership = world.olivia if target == "owner" else world.tom
    client = signed_in(world.actor)
    response = client.post(reverse("dashboard:member_remove", args=[world.team.slug, membership.pk]))
    allowed = _expected(world.role, target == "owner")
    assert (_role_of(membership) is None) is allowed
    assert response.status_code == (302 if world.role in MANAGERS else 404)


@pytest.mark.parametrize("target", ["member", "owner"])
def test_dashboard_cancel_invitation(world: World, target: str):
    invitation = world.owner_invitation if target == "owner" else world.member_invitation
    client = signed_in(world.actor)
    client.post(reverse("dashboard:invitation_cancel", args=[world.team.slug, invitation.pk]))
    invitation.refresh_from_db()
    assert (invitation.revoked_at is not None) is _expected(world.role, target == "owner")


def test_the_team_page_offers_owner_only_to_owners(world: World):
    page = signed_in(world.actor).get(reverse("dashboard:team", args=[world.team.slug]))
    if world.role not in MANAGERS:
        assert page.status_code == 200 and b'name="email"' not in page.content
        return
    offers_owner = b'<option value="owner"' in page.content
    assert offers_owner is (world.role == Role.OWNER)


@pytest.mark.parametrize("inviter_role", [Role.OWNER, Role.ADMIN])
def test_an_owner_invitation_makes_an_owner_only_if_an_owner_sent_it(inviter_role: str):
    from tenantry.accounts.services.invitations import invitation_accept
    from tenantry.core.tokens import secret_hash

    alice = make_user("alice@example.com")
    team = alice.memberships.get().team
    inviter = alice if inviter_role == Role.OWNER else make_user("adam@example.com", team=team, role=Role.ADMIN)
    # An owner invitation as an admin could send one before this fix (straight into the table).
    Invitation.objects.create(team=team, email="second@example.com", role=Role.OWNER, invited_by=inviter,
                              token_hash=secret_hash("tok"), expires_at=timezone.now() + timedelta(days=1))
    second = make_user("second@example.com")
    if inviter_role == Role.OWNER:
        assert invitation_accept(token="tok", user=second).role == Role.OWNER
    else:
        with pytest.raises(ApplicationError) as refused:
            invitation_accept(token="tok", user=second)
        assert refused.value.code == "owner_required"
        assert not Membership.objects.filter(team=team, user=second).exists()
