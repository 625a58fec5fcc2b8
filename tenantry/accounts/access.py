"""Who is acting, for which team, with which rights: a signed-in member or a team's API key."""

from __future__ import annotations

from dataclasses import dataclass

from tenantry.accounts.models import ApiKey, Role, Team, User
from tenantry.accounts.permissions import PERMISSIONS, RETRY_PERMISSIONS, role_allows
from tenantry.core.errors import ApplicationError

# What a read-only API key may do; a read-write key may do what the team's admins may do.
_READ_ONLY = {p for p in PERMISSIONS if p.endswith(".view") or p == "team.view_members"}


class Forbidden(ApplicationError):
    code = "forbidden"
    status = 403


@dataclass(frozen=True)
class Access:
    team: Team
    user: User | None = None
    role: str | None = None
    api_key: ApiKey | None = None

    @property
    def actor(self) -> str:
        if self.api_key is not None:
            return f"api-key:{self.api_key.prefix}"
        return f"user:{self.user.email}" if self.user else "system"

    def allows(self, permission: str) -> bool:
        if self.api_key is not None:
            if permission.startswith("billing."):  # only when the key was given billing explicitly
                return (self.api_key.billing == "manage" or (self.api_key.billing == "read"
                                                             and permission == "billing.view"))
            if permission.startswith("team.manage"):
                return False
            return permission in _READ_ONLY or self.api_key.can_write
        return self.role is not None and role_allows(self.role, permission)

    def require(self, permission: str) -> None:
        if not self.allows(permission):
            raise Forbidden("You are not allowed to do that in this team.", details={"permission": permission})

    def may_retry(self, kind: str) -> bool:
        permission = RETRY_PERMISSIONS.get(kind)
        return permission is not None and self.allows(permission)

    def require_retry(self, kind: str) -> None:
        """Retrying an operation of this kind (see RETRY_PERMISSIONS)."""
        permission = RETRY_PERMISSIONS.get(kind)
        if permission is None:
            raise Forbidden(f"A failed {kind} is retried by billing or the operators, not by the team.",
                            details={"kind": kind})
        self.require(permission)
    def require_owner_rights(self, role: str, message: str) -> None:
        """Owners are made (invited, promoted) and unmade only by owners: an admin who could
        invite an owner could invite their own second address and take the team over."""
        if role == Role.OWNER and not self.allows("team.manage_owners"):
            raise Forbidden(message, code="owner_required", details={"field": "role"})
