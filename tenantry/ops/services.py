"""Writes of the ops app: what monitoring counts."""

from __future__ import annotations

from django.db import transaction

from tenantry.accounts.models import User
from tenantry.core.audit import audit_log
from tenantry.core.errors import ValidationError
from tenantry.ops.models import WebhookRejection


def webhook_rejection_record(*, source: str, reason: str) -> WebhookRejection:
    """Count one refused inbound webhook (bad or missing signature) for `/metrics`."""
    return WebhookRejection.objects.create(source=source[:20], reason=reason[:200])


@transaction.atomic
def admin_ensure(*, email: str, password_hash: str) -> tuple[User, bool]:
    """The operator's login from `tenantry init` (email and password hash in the environment
    file): created once; an existing account is left as it is, so a password changed since is
    never reset by a restart."""
    from django.contrib.auth.hashers import identify_hasher

    if not email or "@" not in email:
        raise ValidationError("TENANTRY_ADMIN_EMAIL is not an email address", code="invalid_admin")
    try:
        identify_hasher(password_hash)
    except ValueError as exc:
        raise ValidationError("TENANTRY_ADMIN_PASSWORD_HASH is not a password hash (run tenantry init)",
                              code="invalid_admin") from exc
    existing = User.objects.filter(email__iexact=email).first()
    if existing is not None:
        return existing, False
    user = User.objects.create_superuser(email=email, password=None)
    user.password = password_hash
    user.save(update_fields=["password"])
    audit_log(actor="tenantry init", action="admin.created", target=user)
    return user, True
