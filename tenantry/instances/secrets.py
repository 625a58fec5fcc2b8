"""Per-instance generated secrets: created once, encrypted at rest, decrypted only to deploy."""

from __future__ import annotations

import base64
import secrets
import string

from tenantry.catalog.schema import SecretSpec
from tenantry.core.crypto import decrypt, encrypt
from tenantry.instances.models import Instance, InstanceSecret

_ALNUM = string.ascii_letters + string.digits


def generate_secret(spec: SecretSpec) -> str:
    if spec.alphabet == "hex":
        return secrets.token_hex(spec.length)[: spec.length]
    if spec.alphabet == "urlsafe":
        return secrets.token_urlsafe(spec.length)[: spec.length]
    if spec.alphabet == "fernet":
        return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    return "".join(secrets.choice(_ALNUM) for _ in range(spec.length))


def create_instance_secrets(instance: Instance, specs: list[SecretSpec]) -> None:
    existing = set(instance.secrets.values_list("name", flat=True))
    InstanceSecret.objects.bulk_create([
        InstanceSecret(instance=instance, name=spec.name, ciphertext=encrypt(generate_secret(spec)))
        for spec in specs if spec.name not in existing
    ])


def instance_secret_values(instance: Instance) -> dict[str, str]:
    return {s.name: decrypt(s.ciphertext) for s in instance.secrets.all()}
