from __future__ import annotations

from allauth.account.models import EmailAddress
from django.test import Client

from tenantry.accounts.models import Membership, Role, Team, User
from tenantry.accounts.services.teams import ensure_personal_team

PASSWORD = "correct horse battery staple 42"


def make_user(email: str, *, team: Team | None = None, role: str = Role.OWNER) -> User:
    user = User.objects.create_user(email=email, password=PASSWORD)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    if team is None:
        ensure_personal_team(user)
    else:
        Membership.objects.create(team=team, user=user, role=role)
    return user


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client
