"""The certificate Traefik presents to a TLS client whose host it has no certificate for.

Why Tenantry sets one: without a default certificate in its TLS store, Traefik generates a new
self-signed RSA-2048 key pair at *every* configuration change. Profiled here
(bench/traefik_reload.py with Traefik's pprof, 1,000 routes), that key generation was a quarter of
Traefik's CPU per route change (~50 ms), spent before the change is served, and on installations
without TLS too. A certificate made once and named in the base file costs Traefik a PEM parse.

It is self-signed (nothing should trust it; the hosts Tenantry serves get their real certificate
from ACME), an ECDSA P-256 key (fast to make), kept beside the watched directory with the key
readable by its owner only, and made by whichever process needs it first: the others read it.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import tempfile
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

COMMON_NAME = "Tenantry default certificate"
FILE_NAME = "tenantry-default-certificate.pem"
VALID_DAYS = 3650


def default_certificate_tls(directory: Path) -> dict[str, Any]:
    """The dynamic configuration's `tls` section that names it (PEM inline: Traefik may see the
    directory at another path, as in the compose stack)."""
    certificate, key = default_certificate(directory)
    return {"stores": {"default": {"defaultCertificate": {"certFile": certificate, "keyFile": key}}}}


def default_certificate(directory: Path) -> tuple[str, str]:
    """(certificate PEM, key PEM), made at the first call and read back at the next ones."""
    path = directory / FILE_NAME
    with contextlib.suppress(FileNotFoundError):
        return _split(path.read_text())
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".default-certificate-")
    try:
        with os.fdopen(fd, "w") as handle:  # mkstemp's file is 0600
            handle.write(_new_pem())
        # link() fails if another process made it first: keep theirs, so every process and
        # every later start present the same certificate (and write the same base file).
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
    return _split(path.read_text())


def _new_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, COMMON_NAME)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(days=1))
                   .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
                   .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return certificate.public_bytes(serialization.Encoding.PEM).decode() + key_pem.decode()


def _split(text: str) -> tuple[str, str]:
    marker = "-----BEGIN PRIVATE KEY-----"
    certificate, _, key = text.partition(marker)
    if not certificate.strip() or not key:
        raise ValueError(f"{FILE_NAME}: not a certificate followed by its key")
    return certificate.strip() + "\n", marker + key
