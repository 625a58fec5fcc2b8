"""Who may do what in a team. The table is the single source: views, API and tests read it.

| permission            | owner | admin | member | billing |
|-----------------------|:-----:|:-----:|:------:|:-------:|
| instance.view         |   ✓   |   ✓   |   ✓    |         |
| instance.create       |   ✓   |   ✓   |   ✓    |         |
| instance.operate      |   ✓   |   ✓   |   ✓    |         |
| instance.delete       |   ✓   |   ✓   |        |         |
| instance.credentials  |   ✓   |   ✓   |        |         |
| instance.domains      |   ✓   |   ✓   |        |         |
| team.view_members     |   ✓   |   ✓   |   ✓    |    ✓    |
| team.manage_members   |   ✓   |   ✓   |        |         |
| team.manage_api_keys  |   ✓   |   ✓   |        |         |
| team.manage_owners    |   ✓   |       |        |         |
| team.settings         |   ✓   |   ✓   |        |         |
| billing.view          |   ✓   |   ✓   |        |    ✓    |
| billing.manage        |   ✓   |       |        |    ✓    |
| webhook.view          |   ✓   |   ✓   |        |         |
| webhook.manage        |   ✓   |   ✓   |        |         |
| support.view          |   ✓   |   ✓   |   ✓    |    ✓    |
| support.create        |   ✓   |   ✓   |   ✓    |    ✓    |
| team.maintenance      |   ✓   |   ✓   |        |         |
| audit.view            |   ✓   |       |        |         |

Retrying a failed operation needs the permission of what the retry may do (RETRY_PERMISSIONS).
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
    # Customers' own domains: what their DNS sends to the instance.
    "instance.domains": _MANAGERS,
    # Backups: anyone who runs instances may take one; restoring replaces data and downloading
    # takes all of it away, so those are for managers.
    "backup.create": _OPERATORS,
    "backup.restore": _MANAGERS,
    "backup.download": _MANAGERS,
    "team.view_members": _ALL,
    "team.manage_members": _MANAGERS,
    "team.manage_api_keys": _MANAGERS,
    "team.manage_owners": {str(Role.OWNER)},
    # The team's own settings (its time zone); a read-write API key may change them too.
    "team.settings": _MANAGERS,
    "billing.view": {str(Role.OWNER), str(Role.ADMIN), str(Role.BILLING)},
    "billing.manage": {str(Role.OWNER), str(Role.BILLING)},
    # Outbound webhook endpoints: their URLs and secrets reach the team's other systems.
    "webhook.view": _MANAGERS,
    "webhook.manage": _MANAGERS,
    # Support tickets: every member may ask (billing people about invoices) and follow the team's.
    "support.view": _ALL,
    "support.create": _ALL,
    # When the operator may update the team's instances (tenantry.updates).
    "team.maintenance": _MANAGERS,
    # The team's audit trail: who did what, from which address.
    "audit.view": {str(Role.OWNER)},
}

# Retrying an operation needs the permission its kind needs. A provisioning counts as a deletion:
# when it fails again its clean-up removes every container, network and volume it made. What
# billing started (resize, suspend, resume, archive) is retried by billing and the operators,
# never by the team: absent here.
RETRY_PERMISSIONS: dict[str, str] = {
    "provision": "instance.delete",
    "delete": "instance.delete",
    "start": "instance.operate",
    "stop": "instance.operate",
    "restart": "instance.operate",
    "hibernate": "instance.operate",
    "wake": "instance.operate",
    "reconfigure": "instance.credentials",
    "rotate": "instance.credentials",
    "readdress": "instance.domains",
}


def role_allows(role: str, permission: str) -> bool:
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}")
    return role in PERMISSIONS[permission]
