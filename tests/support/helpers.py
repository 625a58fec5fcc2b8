from __future__ import annotations

import io

from tenantry.accounts.models import Team, User

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def team_of(user: User) -> Team:
    return user.memberships.get().team


def staff_user(email: str = "agent@tenantry.test") -> User:
    from tests.dashboard.helpers import make_user

    user = make_user(email)
    User.objects.filter(pk=user.pk).update(is_staff=True)
    user.refresh_from_db()
    return user


def upload(name: str, content: bytes) -> io.BytesIO:
    f = io.BytesIO(content)
    f.name = name
    return f
