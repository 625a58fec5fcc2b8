"""Per-instance values kept encrypted at rest: generated secrets, the customer's inputs and what
the app's hooks captured (API keys, ids). Decrypted only to deploy, to run hooks, or to show the
owner once."""

from __future__ import annotations

import base64
import json
import secrets
import string
from typing import Any

from tenantry.catalog.schema import SecretSpec
from tenantry.core.crypto import decrypt, encrypt
from tenantry.instances.models import Instance, InstanceSecret

_ALNUM = string.ascii_letters + string.digits
# Name prefixes in InstanceSecret: generated secrets have none.
INPUT_PREFIX = "input:"
OUTPUT_PREFIX = "output:"
HOOK_SESSION = "hook:session"


def generate_secret(spec: SecretSpec) -> str:
    if spec.alphabet == "hex":
        return secrets.token_hex(spec.length)[: spec.length]
    if spec.alphabet == "urlsafe":
        return secrets.token_urlsafe(spec.length)[: spec.length]
    if spec.alphabet == "fernet":
        return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    if spec.alphabet == "password":
        while True:
            value = "".join(secrets.choice(_ALNUM) for _ in range(spec.length))
            if (any(c.isupper() for c in value) and any(c.islower() for c in value)
                    and any(c.isdigit() for c in value)):
                return value
    return "".join(secrets.choice(_ALNUM) for _ in range(spec.length))


def create_instance_secrets(instance: Instance, specs: list[SecretSpec]) -> None:
    existing = set(instance.secrets.values_list("name", flat=True))
    InstanceSecret.objects.bulk_create([
        InstanceSecret(instance=instance, name=spec.name, ciphertext=encrypt(generate_secret(spec)))
        for spec in specs if spec.name not in existing
    ])


def _all_values(instance: Instance) -> dict[str, str]:
    return {s.name: decrypt(s.ciphertext) for s in InstanceSecret.objects.filter(instance=instance)}


def split_values(values: dict[str, str]) -> tuple[dict[str, str], dict[str, str], dict[str, Any]]:
    """(generated secrets, the customer's inputs, hook outputs) out of one read of the stored values."""
    secrets_, inputs, outputs = {}, {}, {}
    for name, value in values.items():
        if name.startswith(INPUT_PREFIX):
            inputs[name.removeprefix(INPUT_PREFIX)] = value
        elif name.startswith(OUTPUT_PREFIX):
            outputs[name.removeprefix(OUTPUT_PREFIX)] = json.loads(value)["value"]
        elif ":" not in name:
            secrets_[name] = value
    return secrets_, inputs, outputs


def instance_values(instance: Instance) -> tuple[dict[str, str], dict[str, str], dict[str, Any]]:
    return split_values(_all_values(instance))


def instance_secret_values(instance: Instance) -> dict[str, str]:
    """The generated secrets (what `{{ secrets.* }}` names)."""
    return instance_values(instance)[0]


def instance_inputs(instance: Instance) -> dict[str, str]:
    return instance_values(instance)[1]


def instance_outputs(instance: Instance) -> dict[str, Any]:
    return instance_values(instance)[2]


def store_value(instance: Instance, name: str, value: str) -> None:
    InstanceSecret.objects.update_or_create(instance=instance, name=name, defaults={"ciphertext": encrypt(value)})


def store_inputs(instance: Instance, values: dict[str, str]) -> None:
    for name, value in values.items():
        store_value(instance, INPUT_PREFIX + name, value)


def store_output(instance: Instance, hook: str, value: Any, *, sensitive: bool = True) -> None:
    store_value(instance, OUTPUT_PREFIX + hook, json.dumps({"value": value, "sensitive": sensitive}))


def forget_value(instance: Instance, name: str) -> None:
    InstanceSecret.objects.filter(instance=instance, name=name).delete()


def load_value(instance: Instance, name: str) -> str | None:
    row = InstanceSecret.objects.filter(instance=instance, name=name).first()
    return decrypt(row.ciphertext) if row else None


def sensitive_strings(instance: Instance) -> list[str]:
    """Every stored string long enough to matter, longest first: what logs must never show."""
    found: list[str] = []

    def collect(value: Any) -> None:
        if isinstance(value, str):
            if len(value) >= 8:
                found.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                collect(item)
        elif isinstance(value, list):
            for item in value:
                collect(item)

    for name, value in _all_values(instance).items():
        if name.startswith(OUTPUT_PREFIX):
            output = json.loads(value)
            if output["sensitive"]:
                collect(output["value"])
        elif name == HOOK_SESSION:
            collect(json.loads(value))
        elif len(value) >= 4:
            found.append(value)
    return sorted(set(found), key=len, reverse=True)
