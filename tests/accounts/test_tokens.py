from __future__ import annotations

import pytest

from tenantry.accounts.models import ApiToken
from tenantry.accounts.services import api_token_authenticate, api_token_create, api_token_revoke
from tenantry.core.crypto import decrypt, encrypt, rotate
from tenantry.core.errors import ApplicationError
from tenantry.core.models import AuditEvent


@pytest.mark.django_db
def test_tokens_are_shown_once_stored_hashed_and_revocable():
    issued = api_token_create(name="ci")
    assert issued.plaintext.startswith("tn_") and issued.plaintext not in repr(issued)
    stored = ApiToken.objects.get(pk=issued.token.pk)
    assert issued.plaintext.split("_", 2)[2] not in stored.hashed
    assert api_token_authenticate(issued.plaintext) == stored
    assert api_token_authenticate(issued.plaintext + "x") is None
    assert api_token_authenticate("garbage") is None
    assert ApiToken.objects.get(pk=stored.pk).last_used_at is not None
    api_token_revoke(prefix=stored.prefix)
    assert api_token_authenticate(issued.plaintext) is None
    with pytest.raises(ApplicationError):
        api_token_revoke(prefix=stored.prefix)
    assert list(AuditEvent.objects.values_list("action", flat=True).order_by("id")) == [
        "api_token.create", "api_token.revoke"]
    with pytest.raises(ApplicationError):
        api_token_create(name="  ")


def test_secrets_encryption_round_trip_and_rotation(settings, tmp_path):
    from cryptography.fernet import Fernet

    from tenantry.core import crypto

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
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
    crypto._fernet.cache_clear()


def test_log_lines_mask_secret_fields():
    from tenantry.core.logging import mask_secrets

    event = mask_secrets(None, "info", {"event": "x", "password": "hunter2", "api_key": "k", "slug": "ok"})
    assert event == {"event": "x", "password": "***", "api_key": "***", "slug": "ok"}
