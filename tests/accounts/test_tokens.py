from __future__ import annotations

import pytest

from tenantry.accounts.models import ApiKey
from tenantry.accounts.services.api_keys import api_key_authenticate, api_key_create, api_key_revoke
from tenantry.accounts.services.teams import team_create
from tenantry.core.crypto import decrypt, encrypt, rotate
from tenantry.core.errors import ApplicationError
from tenantry.core.models import AuditEvent


@pytest.mark.django_db
def test_keys_are_shown_once_stored_hashed_scoped_and_revocable():
    team = team_create(name="Acme", owner=None, actor="test")
    other = team_create(name="Other", owner=None, actor="test")
    issued = api_key_create(team=team, name="ci", scope="read")
    assert issued.plaintext.startswith("tn_") and issued.plaintext not in repr(issued)
    stored = ApiKey.objects.get(pk=issued.key.pk)
    assert issued.plaintext.split("_", 2)[2] not in stored.hashed
    assert api_key_authenticate(issued.plaintext) == stored
    assert stored.team == team and not stored.can_write
    assert api_key_authenticate(issued.plaintext + "x") is None
    assert api_key_authenticate("garbage") is None
    assert ApiKey.objects.get(pk=stored.pk).last_used_at is not None
    with pytest.raises(ApplicationError):
        api_key_revoke(team=other, prefix=stored.prefix)  # another team cannot revoke it
    api_key_revoke(team=team, prefix=stored.prefix)
    assert api_key_authenticate(issued.plaintext) is None
    with pytest.raises(ApplicationError):
        api_key_revoke(team=team, prefix=stored.prefix)
    actions = list(AuditEvent.objects.filter(target_type="accounts.apikey").values_list("action", flat=True)
                   .order_by("id"))
    assert actions == ["api_key.create", "api_key.revoke"]
    with pytest.raises(ApplicationError):
        api_key_create(team=team, name="  ")
    with pytest.raises(ApplicationError):
        api_key_create(team=team, name="x", scope="admin")


def test_secrets_encryption_round_trip_and_rotation(settings):
    from cryptography.fernet import Fernet

    from tenantry.core import crypto

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    try:
        settings.TENANTRY = {**settings.TENANTRY, "SECRETS_KEYS": [old]}
        crypto._fernet.cache_clear()
        token = encrypt("s3cret-value")
        assert "s3cret" not in token and decrypt(token) == "s3cret-value"
        settings.TENANTRY = {**settings.TENANTRY, "SECRETS_KEYS": [new, old]}
        crypto._fernet.cache_clear()
        assert decrypt(token) == "s3cret-value"  # old key still decrypts
        rotated = rotate(token)
        settings.TENANTRY = {**settings.TENANTRY, "SECRETS_KEYS": [new]}
        crypto._fernet.cache_clear()
        assert decrypt(rotated) == "s3cret-value"
        with pytest.raises(RuntimeError, match="cannot decrypt"):
            decrypt(token)
    finally:
        crypto._fernet.cache_clear()


def test_log_lines_mask_secret_fields():
    from tenantry.core.logging import mask_secrets

    event = mask_secrets(None, "info", {"event": "x", "password": "hunter2", "api_key": "k", "slug": "ok"})
    assert event == {"event": "x", "password": "***", "api_key": "***", "slug": "ok"}
