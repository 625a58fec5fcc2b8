"""Traefik's static configuration: entry points, the file provider and, when the public scheme is
https, TLS with certificates from an ACME CA (Let's Encrypt staging or production, or any URL).

Two certificate resolvers, so that each host gets the challenge it can pass:
- `tenantry-http` (HTTP-01 on the `web` entry point): each instance host when there is no DNS
  provider, and always each customer's own domain (Tenantry cannot write the customer's DNS);
- `tenantry-dns` (DNS-01 through a lego DNS provider named by `TENANTRY_ACME_DNS_PROVIDER`,
  whose credentials Traefik reads from its environment under lego's names): one wildcard
  certificate `*.<base domain>` for every instance host.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

HTTP_RESOLVER = "tenantry-http"
DNS_RESOLVER = "tenantry-dns"
WEB = "web"
WEBSECURE = "websecure"

# Let's Encrypt's directories; `TENANTRY_ACME_CA` names one of them or is a directory URL.
ACME_DIRECTORIES = {
    "staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
    "production": "https://acme-v02.api.letsencrypt.org/directory",
}


class AcmeConfigError(ValueError):
    """The ACME settings cannot work (said at start-up, not at the first certificate)."""


@dataclass(frozen=True)
class TlsConfig:
    """What the proxy needs to serve instances over https (settings.TENANTRY["TLS"])."""

    https_address: str
    email: str = ""
    ca: str = "staging"
    challenge: str = "http"  # or "dns" (adds the wildcard resolver)
    dns_provider: str = ""
    # DNS servers lego asks when it checks that a TXT record is visible (empty: the system's).
    dns_resolvers: tuple[str, ...] = ()
    dns_propagation_check: bool = True
    hsts_seconds: int = 31536000

    @property
    def ca_server(self) -> str:
        return ACME_DIRECTORIES.get(self.ca, self.ca)

    @property
    def wildcard(self) -> bool:
        return self.challenge == "dns"

    def problems(self) -> list[str]:
        """What is wrong with these settings, in words the operator can act on."""
        found = []
        if self.ca not in ACME_DIRECTORIES and not self.ca.startswith("https://"):
            found.append(f"TENANTRY_ACME_CA must be staging, production or an https:// directory URL, not {self.ca!r}")
        if self.challenge not in ("http", "dns"):
            found.append(f"TENANTRY_ACME_CHALLENGE must be http or dns, not {self.challenge!r}")
        if self.challenge == "dns" and not self.dns_provider:
            found.append("TENANTRY_ACME_CHALLENGE=dns needs TENANTRY_ACME_DNS_PROVIDER "
                         "(a lego provider name: scaleway, ovh, cloudflare, …)")
        if not self.email or "@" not in self.email:
            found.append("TENANTRY_ACME_EMAIL must be an email address "
                         "(the CA writes there before a certificate expires)")
        return found


def tls_config_from_settings() -> TlsConfig | None:
    from django.conf import settings

    raw = settings.TENANTRY.get("TLS")
    return TlsConfig(**raw) if raw else None


def static_config(*, data_dir: Path, dynamic_dir: Path, http_address: str, internal_address: str,
                  access_log: Path, tls: TlsConfig | None = None) -> dict[str, Any]:
    """Traefik's static configuration for `tenantry up`, production and the tests."""
    entry_points: dict[str, Any] = {
        WEB: {"address": http_address},
        # API, ping and metrics only on loopback: containers can reach host services
        # bound to 0.0.0.0.
        "traefik": {"address": internal_address},
    }
    document: dict[str, Any] = {
        "entryPoints": entry_points,
        "providers": {
            # How long Traefik waits after a change before applying it: short, so that a new
            # or woken instance answers at its address quickly (writes are one file per route).
            "providersThrottleDuration": "10ms",
            "file": {"directory": str(dynamic_dir), "watch": True},
        },
        "api": {"dashboard": False, "insecure": True},
        "ping": {"entryPoint": "traefik"},
        "metrics": {"prometheus": {"entryPoint": "traefik", "addRoutersLabels": True,
                                   "addServicesLabels": True}},
        "accessLog": {"filePath": str(access_log), "format": "json", "bufferingSize": 0,
                      "fields": {"defaultMode": "keep", "headers": {"defaultMode": "drop"}}},
        "log": {"level": "WARN", "filePath": str(data_dir / "traefik.log")},
        "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
    }
    if tls is None:
        return document
    problems = tls.problems()
    if problems:
        raise AcmeConfigError("; ".join(problems))
    # Every plain-HTTP request is redirected to https, except ACME's HTTP-01 challenge, which
    # Traefik answers on this entry point before any router (its own router has top priority).
    entry_points[WEB]["http"] = {"redirections": {"entryPoint": {"to": WEBSECURE, "scheme": "https",
                                                                 "permanent": True}}}
    entry_points[WEBSECURE] = {"address": tls.https_address}
    acme_dir = data_dir / "acme"
    resolvers: dict[str, Any] = {
        HTTP_RESOLVER: {"acme": {"email": tls.email, "caServer": tls.ca_server,
                                 "storage": str(acme_dir / f"{HTTP_RESOLVER}.json"),
                                 "httpChallenge": {"entryPoint": WEB}}},
    }
    if tls.wildcard:
        dns_challenge: dict[str, Any] = {"provider": tls.dns_provider}
        if tls.dns_resolvers:
            dns_challenge["resolvers"] = list(tls.dns_resolvers)
        if not tls.dns_propagation_check:
            dns_challenge["propagation"] = {"disableChecks": True}
        resolvers[DNS_RESOLVER] = {"acme": {"email": tls.email, "caServer": tls.ca_server,
                                            "storage": str(acme_dir / f"{DNS_RESOLVER}.json"),
                                            "dnsChallenge": dns_challenge}}
    document["certificatesResolvers"] = resolvers
    return document
