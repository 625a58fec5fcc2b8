from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from tenantry.accounts.access import Access
from tenantry.accounts.models import ApiKey, ApiKeyBilling, ApiKeyScope, Team, User
from tenantry.core.audit import audit_log
from tenantry.core.errors import NotFound, ValidationError
from tenantry.core.tokens import new_secret, secret_hash

KEY_PREFIX = "tn_"
# Writing last_used_at on every request would turn every read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    plaintext: str = field(repr=False)


@transaction.atomic
def api_key_create(*, team: Team, name: str, scope: str = ApiKeyScope.WRITE, created_by: User | None = None,
                   actor: str = "cli", billing: str = ApiKeyBilling.NONE, granted_by: Access | None = None
                   ) -> IssuedKey:
    """A new key. `billing` gives it billing rights explicitly; whoever creates it (`granted_by`,
    when a person does) must hold those rights: a key never carries more than its maker's."""
    name = (name or "").strip()
    if not name:
        raise ValidationError("A key needs a name.", details={"field": "name"})
    if len(name) > 100:
        raise ValidationError("The name is too long (100 characters at most).", details={"field": "name"})
    if scope not in ApiKeyScope.values:
        raise ValidationError(f"Unknown scope {scope!r}.", details={"field": "scope"})
    if billing not in ApiKeyBilling.values:
        raise ValidationError(f"Unknown billing access {billing!r}.", details={"field": "billing"})
    if billing and granted_by is not None:
        granted_by.require("billing.manage" if billing == ApiKeyBilling.MANAGE else "billing.view")
    prefix = secrets.token_hex(4)
    secret = new_secret()
    key = ApiKey.objects.create(team=team, name=name, prefix=prefix, hashed=secret_hash(secret), scope=scope,
                                created_by=created_by, billing=billing)
    audit_log(actor=actor, action="api_key.create", target=key, data={"team": str(team.pk), "scope": scope,
                                                                     "billing": billing, "name": name})
    return IssuedKey(key=key, plaintext=f"{KEY_PREFIX}{prefix}_{secret}")


def api_key_authenticate(plaintext: str) -> ApiKey | None:
    if not plaintext.startswith(KEY_PREFIX):
        return None
    prefix, _, secret = plaintext[len(KEY_PREFIX) :].partition("_")
    key = ApiKey.objects.select_related("team").filter(prefix=prefix, revoked_at__isnull=True).first()
    if key is None or not hmac.compare_digest(key.hashed, secret_hash(secret)):
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


@transaction.atomic
def api_key_revoke(*, team: Team, prefix: str, actor: str = "cli") -> ApiKey:
    key = ApiKey.objects.filter(team=team, prefix=prefix, revoked_at__isnull=True).first()
    if key is None:
        raise NotFound(f"No active key {prefix!r} in this team.", code="api_key_not_found")
    key.revoked_at = timezone.now()
    key.save(update_fields=["revoked_at", "updated_at"])
    audit_log(actor=actor, action="api_key.revoke", target=key)
    return key
