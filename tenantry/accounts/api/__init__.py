"""Teams over REST: the team, its members, invitations and API keys (tenantry/accounts/api/)."""

from ninja import Router

from tenantry.accounts.api.keys import router as keys_router
from tenantry.accounts.api.members import router as members_router
from tenantry.accounts.api.teams import router as teams_router

router = Router()
router.add_router("", teams_router)
router.add_router("", members_router)
router.add_router("", keys_router)

__all__ = ["router"]
