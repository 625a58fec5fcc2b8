"""Routes over TLS with real certificates: a real Traefik with Tenantry's TLS static config
obtains them from a real ACME CA (Debian's Pebble) on 127.0.0.1 — HTTP-01 for a customer's own
domain and for instance hosts, DNS-01 (lego's exec provider writing to challtestsrv) for the
wildcard — and a client trusting only Pebble's root verifies every chain."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.x509.oid import NameOID

from tenantry.core.management.commands.up import traefik_binary
from tenantry.routing.backends.base import Route
from tenantry.routing.backends.traefik import TraefikRouting
from tenantry.routing.backends.traefik_default_cert import COMMON_NAME as DEFAULT_CERT_NAME
from tenantry.routing.backends.traefik_default_cert import FILE_NAME as DEFAULT_CERT_FILE
from tenantry.routing.backends.traefik_static import TlsConfig
from tests.conftest import wait_for
from tests.http_stub import TextHandler, background_servers
from tests.routing.acme import AcmeWorld, TlsProxy, https_get, start_acme_world, start_tls_traefik
from tests.testenv import free_port

pytestmark = [pytest.mark.traefik]

BASE = "tls.test"


class _Upstream(TextHandler):
    def answer(self) -> str:
        return f"app saw {self.headers['Host']} proto={self.headers.get('X-Forwarded-Proto')}"


@pytest.fixture(scope="module")
def acme(tmp_path_factory) -> tuple[AcmeWorld, TlsProxy]:
    directory = tmp_path_factory.mktemp("acme")
    http_port = free_port()
    world = start_acme_world(directory / "pebble", http_port=http_port)
    try:
        proxy = start_tls_traefik(directory / "traefik", world, http_port=http_port, traefik_binary=traefik_binary())
    except Exception:
        world.stop()
        raise
    yield world, proxy
    proxy.stop()
    world.stop()


@pytest.fixture(scope="module")
def upstream() -> str:
    with background_servers(_Upstream, count=1) as urls:
        yield urls[0]


def _backend(proxy: TlsProxy, tls: TlsConfig | None = None, base: str = BASE) -> TraefikRouting:
    return TraefikRouting(directory=str(proxy.dynamic_dir), api_url=f"http://127.0.0.1:{proxy.internal_port}",
                          edge_url="http://127.0.0.1:9", edge_secret="edge-secret", tls=tls or proxy.tls,
                          base_domain=base)


def _served_with_certificate(proxy: TlsProxy, host: str, root: str, timeout: float = 60):
    """Poll until Traefik serves `host` with a certificate chaining to Pebble's root (before
    that it serves its default self-signed one, which the client refuses)."""
    def attempt():
        try:
            return https_get(proxy.https_port, host, root)
        except (OSError, ValueError):
            return None

    return wait_for(attempt, timeout=timeout, interval=0.5, what=f"a trusted certificate for {host}")


def test_wildcard_by_dns01_and_custom_domain_by_http01(acme, upstream):
    world, proxy = acme
    root = world.root_pem()
    backend = _backend(proxy)
    route = Route(key="tls1", hosts=(f"flows.{BASE}", "flows.example.com"), upstream=upstream)
    backend.publish(route)
    assert backend.wait_applied(route)

    status, headers, body, peer = _served_with_certificate(proxy, f"flows.{BASE}", root)
    assert status == 200 and body == f"app saw flows.{BASE} proto=https"
    # one wildcard certificate for every instance host (DNS-01 through challtestsrv)
    assert ("DNS", f"*.{BASE}") in peer["subjectAltName"]
    assert headers["strict-transport-security"] == "max-age=600"
    # the customer's domain: its own certificate (HTTP-01 answered by Traefik on the web port)
    status, _, body, peer = _served_with_certificate(proxy, "flows.example.com", root)
    assert status == 200 and body == "app saw flows.example.com proto=https"
    assert peer["subjectAltName"] == (("DNS", "flows.example.com"),)

    # another instance host is covered by the wildcard at once: no new challenge
    other = Route(key="tls2", hosts=(f"other.{BASE}",), upstream=upstream)
    backend.publish(other)
    assert backend.wait_applied(other)
    status, _, body, _ = https_get(proxy.https_port, f"other.{BASE}", root)
    assert status == 200 and body.startswith(f"app saw other.{BASE}")

    # plain HTTP is redirected to https, on the same host
    session = requests.Session()
    session.trust_env = False
    plain = session.get(f"http://127.0.0.1:{proxy.http_port}/path?q=1", headers={"Host": f"flows.{BASE}"},
                        allow_redirects=False, timeout=5)
    assert plain.status_code in (301, 308)
    assert plain.headers["Location"] == f"https://flows.{BASE}:{proxy.https_port}/path?q=1"
    assert backend.published()["tls1"] == route
    backend.unpublish("tls1")
    backend.unpublish("tls2")


def test_http01_for_each_instance_host_without_dns_provider(acme, upstream):
    """Without a DNS provider each instance host gets its own certificate by HTTP-01 (another
    base domain here: the wildcard of the test above would cover it)."""
    world, proxy = acme
    root = world.root_pem()
    http_only = TlsConfig(**{**proxy.tls.__dict__, "challenge": "http", "dns_provider": ""})
    backend = _backend(proxy, http_only, base="plain.test")
    route = Route(key="tls3", hosts=("solo.plain.test",), upstream=upstream)
    backend.publish(route)
    assert backend.wait_applied(route)
    status, _, body, peer = _served_with_certificate(proxy, "solo.plain.test", root)
    assert status == 200 and body.startswith("app saw solo.plain.test")
    assert peer["subjectAltName"] == (("DNS", "solo.plain.test"),)
    backend.unpublish("tls3")


def test_a_failed_challenge_leaves_other_hosts_serving(acme, upstream):
    """A domain whose HTTP-01 fails (it does not point at us) gets no certificate; the route's
    other hosts keep their certificates and keep answering."""
    world, proxy = acme
    root = world.root_pem()
    backend = _backend(proxy)
    route = Route(key="tls4", hosts=(f"keep.{BASE}", "broken.example.net"), upstream=upstream)
    # challtestsrv answers A for broken.example.net with an address nothing listens on
    requests.post(f"{world.challtestsrv_management}/add-a", json={"host": "broken.example.net",
                                                                    "addresses": ["127.0.0.2"]}, timeout=5)
    backend.publish(route)
    assert backend.wait_applied(route)
    status, _, _, _ = _served_with_certificate(proxy, f"keep.{BASE}", root)
    assert status == 200
    log = Path(proxy.dynamic_dir.parent / "traefik.log")
    wait_for(lambda: "broken.example.net" in log.read_text() and "Unable to obtain ACME certificate" in log.read_text(),
             timeout=60, interval=0.5, what="the ACME failure in Traefik's log")
    with pytest.raises(OSError):  # ssl.SSLCertVerificationError: Traefik's default certificate
        https_get(proxy.https_port, "broken.example.net", root)
    backend.unpublish("tls4")


def test_a_client_without_a_known_host_gets_the_certificate_the_base_file_names(acme):
    """Traefik presents the base file's default certificate (made once, then kept) to a TLS
    client whose host it has no certificate for. Without one, Traefik made a new RSA key pair at
    every configuration change: a quarter of its CPU per route change at 1,000 routes."""
    _world, proxy = acme
    backend = _backend(proxy)
    backend.ensure_base()
    kept = x509.load_pem_x509_certificate((proxy.dynamic_dir.parent / DEFAULT_CERT_FILE).read_bytes())
    assert kept.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == DEFAULT_CERT_NAME

    def presented() -> x509.Certificate | None:
        # No SNI (an address, not a host name): the default certificate, whatever routes exist.
        certificate = x509.load_pem_x509_certificate(
            ssl.get_server_certificate(("127.0.0.1", proxy.https_port), timeout=5).encode())
        return certificate if certificate == kept else None

    wait_for(presented, timeout=20, interval=0.2, what="Traefik presenting Tenantry's default certificate")
    # Another process (a new backend object) reads the same certificate: the base file stays as it is.
    assert _backend(proxy).ensure_base() is False
    assert oct((proxy.dynamic_dir.parent / DEFAULT_CERT_FILE).stat().st_mode & 0o777) == "0o600"
