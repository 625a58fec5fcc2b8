from __future__ import annotations

from django.conf import settings
from django.db import transaction

from tenantry.accounts.models import User
from tenantry.core.audit import audit_log, diff, snapshot
from tenantry.core.errors import ValidationError

_FIELDS = ("first_name", "last_name", "language")


@transaction.atomic
def profile_update(*, user: User, **values: str) -> User:
    """A person's own name and language (the dashboard's Account page and the API)."""
    unknown = set(values) - set(_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown profile fields: {', '.join(sorted(unknown))}.")
    language = values.get("language")
    if language and language not in dict(settings.LANGUAGES):
        raise ValidationError(f"Unknown language {language!r}.", details={"field": "language"})
    before = snapshot(user, _FIELDS)  # the user may come from elsewhere than a query (a session)
    for name, value in values.items():
        setattr(user, name, (value or "").strip()[:150])
    user.save(update_fields=list(_FIELDS))
    changes = diff(before, user)
    if changes:
        audit_log(actor=f"user:{user.email}", action="user.profile", target=user, changes=changes)
    return user
