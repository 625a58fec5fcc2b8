from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from tenantry.accounts.models import ApiToken
from tenantry.core.audit import audit_log
from tenantry.core.errors import NotFound, ValidationError

TOKEN_PREFIX = "tn_"
# Writing last_used_at on every request would turn every read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    plaintext: str = field(repr=False)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def api_token_create(*, name: str, actor: str = "cli") -> IssuedToken:
    name = name.strip()
    if not name:
        raise ValidationError("A token needs a name.", details={"field": "name"})
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(name=name, prefix=prefix, hashed=_hash(secret))
    audit_log(actor=actor, action="api_token.create", target=token, data={"name": name})
    return IssuedToken(token=token, plaintext=f"{TOKEN_PREFIX}{prefix}_{secret}")


def api_token_authenticate(plaintext: str) -> ApiToken | None:
    if not plaintext.startswith(TOKEN_PREFIX):
        return None
    prefix, _, secret = plaintext[len(TOKEN_PREFIX) :].partition("_")
    token = ApiToken.objects.filter(prefix=prefix, revoked_at__isnull=True).first()
    if token is None or not hmac.compare_digest(token.hashed, _hash(secret)):
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


@transaction.atomic
def api_token_revoke(*, prefix: str, actor: str = "cli") -> ApiToken:
    token = ApiToken.objects.filter(prefix=prefix, revoked_at__isnull=True).first()
    if token is None:
        raise NotFound(f"No active token with prefix {prefix!r}.")
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at", "updated_at"])
    audit_log(actor=actor, action="api_token.revoke", target=token)
    return token
