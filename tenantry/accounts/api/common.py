from __future__ import annotations

from typing import Any

from tenantry.api.auth import ApiKeyAuth, SessionThenCsrfAuth
from tenantry.instances.schemas import ErrorOut

# A team's API key (its own team only; managing people and keys is refused to keys), or a
# signed-in member's dashboard session with its CSRF token.
AUTH = [ApiKeyAuth(), SessionThenCsrfAuth()]
ERRORS: dict[int, Any] = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut,
                          429: ErrorOut}
