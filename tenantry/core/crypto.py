"""Secrets at rest: MultiFernet, so keys can be rotated (new key first, old keys still decrypt).

Where the keys come from, first match wins: `TENANTRY_SECRETS_KEYS` (comma-separated), the file
`TENANTRY_SECRETS_KEY_FILE` names (keys separated by commas or lines; e.g. a Docker secret or a
systemd credential, outside the data directory so a copy of the data is not enough to read the
secrets), else `secrets.key` in the data directory, created on first use (development)."""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def _split_keys(text: str) -> list[str]:
    return [key for key in re.split(r"[\s,]+", text) if key]


def _keys() -> list[str]:
    keys: list[str] = list(settings.TENANTRY["SECRETS_KEYS"])
    if keys:
        return keys
    configured = settings.TENANTRY.get("SECRETS_KEY_FILE") or ""
    if configured:
        # A file the operator named is never created here: a new key would silently make every
        # stored secret unreadable.
        path = Path(configured)
        if not path.is_file():
            raise ImproperlyConfigured(f"TENANTRY_SECRETS_KEY_FILE={configured}: no such file")
        keys = _split_keys(path.read_text())
        if not keys:
            raise ImproperlyConfigured(f"TENANTRY_SECRETS_KEY_FILE={configured} holds no key")
        return keys
    path = Path(settings.DATA_DIR) / "secrets.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(Fernet.generate_key().decode())
    return _split_keys(path.read_text())


@functools.cache
def _fernet() -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.encode()) for key in _keys()])
    except ValueError as exc:  # not 32 url-safe base64-encoded bytes
        raise ImproperlyConfigured(f"a secrets key is not a valid Fernet key: {exc}") from exc


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:  # a wrong or missing key must not look like empty data
        raise RuntimeError("cannot decrypt a stored secret: is TENANTRY_SECRETS_KEYS right?") from exc


def rotate(token: str) -> str:
    """Re-encrypt with the newest key."""
    return _fernet().rotate(token.encode()).decode()
