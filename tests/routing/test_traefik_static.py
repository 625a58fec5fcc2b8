"""Traefik's static configuration from Tenantry's TLS settings, and the refusals of settings that
cannot work (said at start-up, by `tenantry up`, rather than at the first certificate)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management.base import CommandError

from tenantry.core.management.commands.up import write_traefik_static_config
from tenantry.routing.backends.traefik_static import AcmeConfigError, TlsConfig, static_config


def _static(tls: TlsConfig | None) -> dict:
    return static_config(data_dir=Path("/d"), dynamic_dir=Path("/d/dynamic"), http_address="0.0.0.0:80",
                         internal_address="127.0.0.1:8881", access_log=Path("/d/access.log"), tls=tls)


def test_plain_http_without_tls_settings():
    document = _static(None)
    assert set(document["entryPoints"]) == {"web", "traefik"}
    assert "http" not in document["entryPoints"]["web"] and "certificatesResolvers" not in document


def test_http01_staging():
    document = _static(TlsConfig(https_address="0.0.0.0:443", email="ops@example.com", ca="staging"))
    assert document["entryPoints"]["websecure"] == {"address": "0.0.0.0:443"}
    assert document["entryPoints"]["web"]["http"] == {"redirections": {"entryPoint": {
        "to": "websecure", "scheme": "https", "permanent": True}}}
    assert document["certificatesResolvers"] == {"tenantry-http": {"acme": {
        "email": "ops@example.com", "caServer": "https://acme-staging-v02.api.letsencrypt.org/directory",
        "storage": "/d/acme/tenantry-http.json", "httpChallenge": {"entryPoint": "web"}}}}


def test_dns01_wildcard_production():
    document = _static(TlsConfig(https_address="0.0.0.0:443", email="ops@example.com", ca="production",
                                 challenge="dns", dns_provider="scaleway", dns_resolvers=("1.1.1.1:53",)))
    resolvers = document["certificatesResolvers"]
    assert resolvers["tenantry-http"]["acme"]["caServer"] == "https://acme-v02.api.letsencrypt.org/directory"
    assert resolvers["tenantry-dns"]["acme"]["dnsChallenge"] == {"provider": "scaleway", "resolvers": ["1.1.1.1:53"]}
    assert resolvers["tenantry-dns"]["acme"]["storage"] == "/d/acme/tenantry-dns.json"


@pytest.mark.parametrize(("fields", "said"), [
    ({"ca": "prod"}, "TENANTRY_ACME_CA must be staging, production or an https:// directory URL, not 'prod'"),
    ({"ca": "http://ca.example/dir"}, "TENANTRY_ACME_CA must be"),
    ({"challenge": "dns"}, "TENANTRY_ACME_CHALLENGE=dns needs TENANTRY_ACME_DNS_PROVIDER"),
    ({"challenge": "tls"}, "TENANTRY_ACME_CHALLENGE must be http or dns, not 'tls'"),
    ({"email": ""}, "TENANTRY_ACME_EMAIL must be an email address"),
])
def test_settings_that_cannot_work_are_refused(fields, said):
    tls = TlsConfig(**{"https_address": "0.0.0.0:443", "email": "ops@example.com", "ca": "staging", **fields})
    with pytest.raises(AcmeConfigError, match=said.replace("(", r"\(").replace(".", r"\.")):
        _static(tls)


def test_tenantry_up_stops_on_them(settings, tmp_path):
    settings.TENANTRY = {**settings.TENANTRY, "TRAEFIK_DIR": tmp_path, "TLS": {
        "https_address": "127.0.0.1:8443", "email": "ops@example.com", "ca": "staging", "challenge": "dns"}}
    with pytest.raises(CommandError, match="TLS settings: TENANTRY_ACME_CHALLENGE=dns needs"):
        write_traefik_static_config()
    assert not (tmp_path / "traefik.yml").exists()
