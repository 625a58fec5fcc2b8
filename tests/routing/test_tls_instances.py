"""A real instance over https: Tenantry configured for TLS (TENANTRY["TLS"], https public
scheme) publishes its routes to a Traefik that gets certificates from Pebble — the instance's
host under the wildcard (DNS-01), then a customer's domain verified through challtestsrv's DNS
(HTTP-01) — and a client trusting only Pebble's root reaches the app at both."""

from __future__ import annotations

import json

import pytest
import requests

from tenantry.core.backends import reset_backends
from tenantry.core.management.commands.up import traefik_binary
from tenantry.instances import services
from tenantry.instances.models import OperationStatus, Status
from tenantry.instances.secrets import instance_outputs, instance_secret_values
from tenantry.routing import services as domains
from tenantry.routing.models import CustomDomain
from tenantry.routing.presenters import domain_view
from tenantry.routing.registry import routing
from tenantry.routing.services import ownership_token
from tests.conftest import wait_for
from tests.instances.helpers import create, fresh
from tests.routing.acme import https_get, https_request, start_acme_world, start_tls_traefik
from tests.testenv import free_port

pytestmark = [pytest.mark.docker, pytest.mark.traefik]

BASE = "apps.tenantry.test"


@pytest.fixture()
def tls_platform(platform, tmp_path, settings):
    original = settings.TENANTRY, settings.ROUTING_BACKENDS
    http_port = free_port()
    world = start_acme_world(tmp_path / "pebble", http_port=http_port)
    proxy = start_tls_traefik(tmp_path / "traefik", world, http_port=http_port, traefik_binary=traefik_binary())
    # Two labels under the wildcard: TLS clients refuse `*.localhost` (a wildcard over a TLD).
    settings.TENANTRY = {**settings.TENANTRY, "BASE_DOMAIN": BASE, "TLS": dict(proxy.tls.__dict__),
                         "PUBLIC_SCHEME": "https",
                         "PUBLIC_PORT": str(proxy.https_port), "DNS_RESOLVER": world.dns_address,
                         "TRAEFIK_DIR": proxy.dynamic_dir.parent}
    settings.ROUTING_BACKENDS = {"default": {
        "BACKEND": "tenantry.routing.backends.traefik.TraefikRouting",
        "OPTIONS": {"directory": str(proxy.dynamic_dir), "api_url": f"http://127.0.0.1:{proxy.internal_port}"}}}
    reset_backends()
    routing().ensure_base()  # type: ignore[attr-defined]
    yield world, proxy
    routing().sync([])
    proxy.stop()
    world.stop()
    # Put the session's Traefik back before `platform` cleans up (it loads the backend again).
    settings.TENANTRY, settings.ROUTING_BACKENDS = original
    reset_backends()


def _trusted(port: int, host: str, root: str, text: str):
    def attempt():
        try:
            answer = https_get(port, host, root)
        except (OSError, ValueError):
            return None  # Traefik's default certificate until the real one arrives
        return answer if text in answer[2] else None

    return wait_for(attempt, timeout=60, interval=0.5, what=f"{text!r} over https at {host}")


def test_instance_and_custom_domain_over_https(tls_platform):
    world, proxy = tls_platform
    root = world.root_pem()
    instance, operation = create("secure")
    instance = fresh(instance)
    assert instance.status == Status.RUNNING, operation.error
    assert instance.url == f"https://secure.{BASE}:{proxy.https_port}"

    status, headers, _, peer = _trusted(proxy.https_port, f"secure.{BASE}", root, "Hello from secure")
    assert status == 200
    assert ("DNS", f"*.{BASE}") in peer["subjectAltName"]  # the wildcard, by DNS-01
    assert headers["strict-transport-security"] == "max-age=600"

    row = domains.domain_add(instance=instance, domain="flows.example.com", actor="test")
    world.set_cname("flows.example.com", f"secure.{BASE}")
    world.set_txt("_tenantry.flows.example.com.", ownership_token(instance.team, "flows.example.com"))
    domains.domain_verify(custom_domain=row, actor="test")
    assert CustomDomain.objects.get(pk=row.pk).verified

    status, headers, _, peer = _trusted(proxy.https_port, "flows.example.com", root, "Hello from secure")
    assert status == 200
    assert peer["subjectAltName"] == (("DNS", "flows.example.com"),)  # its own, by HTTP-01
    assert headers["strict-transport-security"] == "max-age=600"

    # what the customer sees for it
    shown = domain_view(CustomDomain.objects.get(pk=row.pk))
    assert shown["url"] == f"https://flows.example.com:{proxy.https_port}"
    assert shown["certificate"]["state"] == "active" and shown["certificate"]["not_after"] is not None

    # An ACME failure: a verified domain whose DNS then points elsewhere gets no certificate; the
    # customer is told why, and the instance keeps answering over https at its own address.
    broken = domains.domain_add(instance=instance, domain="broken.example.net", actor="test")
    world.set_cname("broken.example.net", f"secure.{BASE}")
    world.set_txt("_tenantry.broken.example.net.", ownership_token(instance.team, "broken.example.net"))
    domains.domain_verify(custom_domain=broken, actor="test")
    world.clear_cname("broken.example.net")
    requests.post(f"{world.challtestsrv_management}/add-a", json={"host": "broken.example.net",
                                                                    "addresses": ["127.0.0.2"]}, timeout=5)

    def failed():
        certificate = domain_view(CustomDomain.objects.get(pk=broken.pk))["certificate"]
        return certificate if certificate["state"] == "failed" else None

    certificate = wait_for(failed, timeout=60, interval=0.5, what="the certificate failure to show")
    assert certificate["message"].startswith("No certificate for broken.example.net yet: ")
    assert "broken.example.net" in certificate["message"].split("yet: ", 1)[1]  # the CA's own reason
    assert "keeps answering at its own address" in certificate["message"]
    status, _, body, _ = https_get(proxy.https_port, f"secure.{BASE}", root)
    assert status == 200 and "Hello from secure" in body
    status, _, body, _ = https_get(proxy.https_port, "flows.example.com", root)
    assert status == 200 and "Hello from secure" in body


@pytest.mark.n8n
@pytest.mark.slow
def test_n8n_over_https(tls_platform, docker_client):
    """n8n behind TLS: its URLs say https, its session cookie is Secure, its webhook answers over
    https, and Tenantry still drives it over the private network (rotating its key logs in with
    that Secure cookie)."""
    world, proxy = tls_platform
    root = world.root_pem()
    instance, operation = create("tlsflows", app="n8n")
    operation.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    container = docker_client.containers.list(filters={"label": "tenantry.slug=tlsflows"})[0]
    env = dict(item.split("=", 1) for item in container.attrs["Config"]["Env"])
    url = f"https://tlsflows.{BASE}:{proxy.https_port}"
    assert (env["N8N_PROTOCOL"], env["N8N_SECURE_COOKIE"], env["WEBHOOK_URL"], env["N8N_EDITOR_BASE_URL"]) == (
        "https", "true", f"{url}/", f"{url}/")

    _trusted(proxy.https_port, f"tlsflows.{BASE}", root, "")  # the wildcard is served
    status, _, body, _ = https_request(proxy.https_port, f"tlsflows.{BASE}", root, "POST", "/webhook/echo",
                                       json_body={"message": "over tls"}, timeout=30)
    assert status == 200 and json.loads(body) == {"echo": "over tls"}
    outputs = instance_outputs(instance)
    status, headers, body, _ = https_request(
        proxy.https_port, f"tlsflows.{BASE}", root, "POST", "/rest/login",
        json_body={"emailOrLdapLoginId": outputs["owner"]["email"],
                   "password": instance_secret_values(instance)["owner_password"]})
    assert status == 200, body
    assert "secure" in headers["set-cookie"].lower()

    rotation = services.instance_rotate_credentials(instance=fresh(instance), actor="test")
    rotation.refresh_from_db()
    assert rotation.status == OperationStatus.SUCCEEDED, rotation.error_message
    assert instance_outputs(instance)["api-key"]["key"] != outputs["api-key"]["key"]
