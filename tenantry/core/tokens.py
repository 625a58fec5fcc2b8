"""Secrets handed to people once (API keys, invitation links): only their hash is stored."""

from __future__ import annotations

import hashlib
import secrets


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    """A fast hash is right here: the secrets are 256-bit random, not passwords to brute-force."""
    return hashlib.sha256(secret.encode()).hexdigest()
