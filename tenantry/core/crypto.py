"""Secrets at rest: MultiFernet, so keys can be rotated (new key first, old keys still decrypt)."""

from __future__ import annotations

import functools
import os

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


@functools.cache
def _fernet() -> MultiFernet:
    keys: list[str] = list(settings.TENANTRY["SECRETS_KEYS"])
    if not keys:
        path = settings.TENANTRY["SECRETS_KEY_FILE"]
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(Fernet.generate_key().decode())
        keys = [path.read_text().strip()]
    return MultiFernet([Fernet(k.encode()) for k in keys])


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
