from __future__ import annotations

from django.db import transaction
from django.utils.text import slugify

from tenantry.accounts.access import Access
from tenantry.accounts.models import Membership, Role, Team, User
from tenantry.core.audit import audit_log
from tenantry.core.errors import Conflict, NotFound, ValidationError

OPERATOR_TEAM_SLUG = "operators"


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "team"
    slug, n = base, 1
    # The operators' team is the installation's own (no plan limits apply to it): a customer's
    # team named "Operators" must not get its slug, even before that team first exists.
    while slug == OPERATOR_TEAM_SLUG or Team.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def team_create(*, name: str, owner: User | None, actor: str) -> Team:
    name = (name or "").strip()
    if not name:
        raise ValidationError("A team needs a name.", details={"field": "name"})
    team = Team.objects.create(name=name[:100], slug=_unique_slug(name))
    if owner is not None:
        Membership.objects.create(team=team, user=owner, role=Role.OWNER)
    audit_log(actor=actor, action="team.create", target=team, data={"name": team.name})
    return team


@transaction.atomic
def team_rename(*, access: Access, name: str) -> Team:
    """A new display name (the slug, in URLs and API paths, stays): owners only."""
    access.require("team.manage_owners")
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationError("A team name has 1 to 100 characters.", details={"field": "name"})
    team = Team.objects.select_for_update().get(pk=access.team.pk)
    team.name = name
    team.save(update_fields=["name", "updated_at"])
    audit_log(actor=access.actor, action="team.rename", target=team)
    return team


def ensure_personal_team(user: User) -> Team:
    """Every user belongs to at least one team: the first one is theirs."""
    membership = user.memberships.select_related("team").first()
    if membership is not None:
        return membership.team
    name = f"{user.first_name}'s team" if user.first_name else user.email.split("@")[0]
    return team_create(name=name, owner=user, actor=f"user:{user.email}")


def operator_team() -> Team:
    """The installation's own team, used by the CLI when no team is named."""
    team = Team.objects.filter(slug=OPERATOR_TEAM_SLUG).first()
    return team or Team.objects.create(name="Operators", slug=OPERATOR_TEAM_SLUG)


def team_by_slug(slug: str) -> Team:
    team = Team.objects.filter(slug=slug).first()
    if team is None:
        raise NotFound(f"No team {slug!r}.", code="team_not_found")
    return team


def _owners(team: Team) -> int:
    return team.memberships.filter(role=Role.OWNER).count()


def _team_membership(access: Access, membership: Membership) -> Membership:
    """The membership, locked, if it belongs to the acting team (another team's looks missing)."""
    locked = Membership.objects.select_for_update().filter(pk=membership.pk, team=access.team).first()
    if locked is None:
        raise NotFound("No such member in this team.", code="member_not_found")
    return locked


@transaction.atomic
def membership_set_role(*, membership: Membership, role: str, access: Access) -> Membership:
    """Change a member's role: needs team.manage_members, and team.manage_owners when the member
    is or becomes an owner."""
    access.require("team.manage_members")
    if role not in Role.values:
        raise ValidationError(f"Unknown role {role!r}.", details={"field": "role"})
    locked = _team_membership(access, membership)
    access.require_owner_rights(role, "Only an owner can make someone an owner.")
    access.require_owner_rights(locked.role, "Only an owner can change an owner's role.")
    actor = access.actor
    if locked.role == Role.OWNER and role != Role.OWNER and _owners(locked.team) == 1:
        raise Conflict("A team keeps at least one owner.", code="last_owner")
    before = locked.role
    locked.role = role
    locked.save(update_fields=["role", "updated_at"])
    audit_log(actor=actor, action="membership.role", target=locked, data={"role": role},
              changes={"role": [before, role]})
    return locked


@transaction.atomic
def membership_remove(*, membership: Membership, access: Access) -> None:
    """Remove a member (team.manage_members; an owner only by an owner), or leave: any member may
    remove themselves. The last owner cannot go."""
    locked = _team_membership(access, membership)
    leaving = access.user is not None and access.api_key is None and locked.user_id == access.user.pk
    if not leaving:
        access.require("team.manage_members")
        access.require_owner_rights(locked.role, "Only an owner can remove an owner.")
    if locked.role == Role.OWNER and _owners(locked.team) == 1:
        raise Conflict("The last owner cannot leave the team; make someone else owner first.", code="last_owner")
    actor = access.actor
    audit_log(actor=actor, action="membership.remove", target=locked.team,
              data={"user": locked.user.email, "role": locked.role})
    locked.delete()


@transaction.atomic
def team_set_time_zone(*, access: Access, time_zone: str) -> Team:
    """The zone the team's apps run their schedules in (n8n's GENERIC_TIMEZONE): an IANA name.
    Running apps pick it up when they are next started or restarted; sleeping ones when they wake."""
    from zoneinfo import available_timezones

    access.require("team.settings")
    name = (time_zone or "").strip()
    if name not in available_timezones():
        raise ValidationError(f"Unknown time zone {name!r} (use an IANA name such as Europe/Paris).",
                              code="invalid_time_zone", details={"field": "time_zone"})
    team = access.team
    if team.time_zone != name:
        previous = team.time_zone
        team.time_zone = name
        team.save(update_fields=["time_zone", "updated_at"])
        audit_log(actor=access.actor, action="team.time_zone", target=team, data={"from": previous, "to": name})
        # Instances not running now take it when they next wake (a START re-renders anyway).
        from tenantry.instances.models import Instance, Status

        Instance.objects.filter(team=team).exclude(status__in=[Status.RUNNING, Status.DELETED]) \
            .update(settings_stale=True)
    return team
