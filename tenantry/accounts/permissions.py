"""Who may do what in a team. The table is the single source: views, API and tests read it.

| permission            | owner | admin | member | billing |
|-----------------------|:-----:|:-----:|:------:|:-------:|
| instance.view         |   ✓   |   ✓   |   ✓    |         |
| instance.create       |   ✓   |   ✓   |   ✓    |         |
| instance.operate      |   ✓   |   ✓   |   ✓    |         |
| instance.delete       |   ✓   |   ✓   |        |         |
| instance.credentials  |   ✓   |   ✓   |        |         |
| team.view_members     |   ✓   |   ✓   |   ✓    |    ✓    |
| team.manage_members   |   ✓   |   ✓   |        |         |
| team.manage_api_keys  |   ✓   |   ✓   |        |         |
| team.manage_owners    |   ✓   |       |        |         |
| billing.view          |   ✓   |   ✓   |        |    ✓    |
| billing.manage        |   ✓   |       |        |    ✓    |
"""

from __future__ import annotations

from tenantry.accounts.models import Role

_ALL: set[str] = {Role.OWNER, Role.ADMIN, Role.MEMBER, Role.BILLING}
_OPERATORS: set[str] = {Role.OWNER, Role.ADMIN, Role.MEMBER}
_MANAGERS: set[str] = {Role.OWNER, Role.ADMIN}

PERMISSIONS: dict[str, set[str]] = {
    "instance.view": _OPERATORS,
    "instance.create": _OPERATORS,
    "instance.operate": _OPERATORS,
    "instance.delete": _MANAGERS,
    # The app's admin login, its API key, the customer's external credentials inside it.
    "instance.credentials": _MANAGERS,
    "team.view_members": _ALL,
    "team.manage_members": _MANAGERS,
    "team.manage_api_keys": _MANAGERS,
    "team.manage_owners": {str(Role.OWNER)},
    "billing.view": {str(Role.OWNER), str(Role.ADMIN), str(Role.BILLING)},
    "billing.manage": {str(Role.OWNER), str(Role.BILLING)},
}


def role_allows(role: str, permission: str) -> bool:
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}")
    return role in PERMISSIONS[permission]
