"""Is a host's certificate in place? Asked of the proxy itself: a TLS handshake on its https
entry point with the host as SNI shows the certificate it serves. When that is not (yet) one
covering the host, Traefik's log says why the CA refused (challenge failed, rate limited), and
that reason is what the customer sees; the instance keeps serving at its own address meanwhile.
"""

from __future__ import annotations

import datetime
import re
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from django.conf import settings

from tenantry.routing.backends.traefik_static import tls_config_from_settings

# How long a fresh domain may wait for its certificate before "pending" becomes a problem.
ISSUE_GRACE = datetime.timedelta(minutes=5)
_LOG_TAIL_BYTES = 512 * 1024


@dataclass(frozen=True)
class CertificateStatus:
    state: str  # "none" (no TLS), "active", "pending", "failed"
    message: str = ""
    not_after: datetime.datetime | None = None


def _covers(cert: x509.Certificate, host: str) -> bool:
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.DNSName)
    except x509.ExtensionNotFound:
        return False
    for name in names:
        if name == host or (name.startswith("*.") and host.split(".", 1)[-1] == name[2:] and "." in host):
            return True
    return False


def served_certificate(host: str, *, address: str, timeout: float = 3.0) -> x509.Certificate | None:
    """The certificate the proxy serves for `host` (not verified: we only read what it is)."""
    hostname, _, port = address.rpartition(":")
    if hostname in ("", "0.0.0.0", "::", "[::]"):  # noqa: S104 - a wildcard listen address: ask on loopback
        hostname = "127.0.0.1"
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((hostname, int(port)), timeout=timeout) as raw, \
                context.wrap_socket(raw, server_hostname=host) as conn:
            der = conn.getpeercert(binary_form=True)
    except OSError:
        return None
    return x509.load_der_x509_certificate(der) if der else None


def last_acme_error(host: str, log_path: Path | None = None) -> str:
    """Traefik's latest "Unable to obtain ACME certificate" line naming `host`, reduced to the
    CA's reason; empty when there is none."""
    path = log_path or Path(settings.TENANTRY["TRAEFIK_DIR"]) / "traefik.log"
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            handle.seek(max(0, handle.tell() - _LOG_TAIL_BYTES))
            lines = handle.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        if "Unable to obtain ACME certificate" in line and (f"[{host}" in line or f'"{host}"' in line):
            return _reason(line)
    return ""


# Traefik's text log: `… > Unable to obtain ACME certificate for domains error="…" ACME CA=… domains=[…]`
_ERROR_FIELD = re.compile(r'error="((?:[^"\\]|\\.)*)"')


def _reason(line: str) -> str:
    match = _ERROR_FIELD.search(line)
    error = match.group(1).replace('\\"', '"') if match else line
    # The CA's own words come after lego's preamble ("… one or more domains had a problem: [host: …]").
    for marker in ("invalid authorization: ", "had a problem: "):
        if marker in error:
            error = error.rsplit(marker, 1)[1].rstrip("]")
            break
    # An ACME problem document: `urn:ietf:params:acme:error:<type> :: <what the CA said>`.
    problem = re.search(r"urn:ietf:params:acme:error:(\w+) :: (.*)", error)
    if problem:
        kind, said = problem.group(1), problem.group(2).strip()
        error = f"{_PROBLEMS.get(kind, kind)} ({said})" if kind in _PROBLEMS else said or kind
    return error.strip()[:500]


# The ACME problems a customer or operator can act on, in plain words (RFC 8555 §6.7).
_PROBLEMS = {
    "rateLimited": "the certificate authority's rate limit is reached; the proxy tries again later",
    "dns": "the certificate authority could not look the domain up in DNS",
    "connection": "the certificate authority could not reach this service on port 80",
    "unauthorized": "the certificate authority's check of the domain failed",
    "caa": "a CAA record of the domain forbids this certificate authority",
}


def certificate_status(host: str, *, since: datetime.datetime | None) -> CertificateStatus:
    """Where the certificate for `host` stands; `since`: when the host joined its route."""
    tls = tls_config_from_settings()
    if tls is None:
        return CertificateStatus(state="none", message="This installation serves instances over plain HTTP.")
    cert = served_certificate(host, address=tls.https_address)
    if cert is not None and _covers(cert, host):
        return CertificateStatus(state="active", not_after=cert.not_valid_after_utc)
    reason = last_acme_error(host)
    now = datetime.datetime.now(datetime.UTC)
    if reason or (since is not None and now - since > ISSUE_GRACE):
        return CertificateStatus(state="failed", message=(
            f"No certificate for {host} yet{': ' + reason if reason else ''}. Check that {host} points at "
            "this service (its CNAME) and that port 80 reaches it; the proxy tries again by itself. "
            "Meanwhile the instance keeps answering at its own address."))
    return CertificateStatus(state="pending", message=f"The certificate for {host} is being issued.")
