"""A custom domain changes the app's own idea of its address: when it is verified (or removed)
the settings its spec fills from `{{ instance.public_url }}`/`public_host` are updated and the
app redeployed in place, its data kept; every app's settings follow the scheme (https with TLS)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from tenantry.accounts.services.api_keys import api_key_create
from tenantry.catalog.registry import get_app
from tenantry.instances.deployment import build_deployment
from tenantry.instances.models import Instance, Operation, Status
from tenantry.instances.secrets import create_instance_secrets
from tenantry.instances.services import instance_hibernate, instance_wake
from tenantry.routing.models import CustomDomain, DomainStatus
from tenantry.routing.services import ownership_token
from tenantry.runtime.placement import default_server
from tenantry.runtime.registry import runtime_for
from tests.billing.billing_helpers import make_team
from tests.billing.entitlement_helpers import subscribe
from tests.instances.helpers import create, fresh, last_operation
from tests.routing.test_domains import dns_server, resolver  # noqa: F401  (fixtures)


def _env(instance: Instance, service: str = "web") -> dict[str, str]:
    runtime = runtime_for(instance.server)
    result = runtime.exec(build_deployment(instance), service, ["sh", "-c", "env"])
    return dict(line.split("=", 1) for line in result.output.splitlines() if "=" in line)


def _cat(instance: Instance, path: str) -> str:
    runtime = runtime_for(instance.server)
    return runtime.exec(build_deployment(instance), "web", ["cat", path]).output


@pytest.mark.docker
@pytest.mark.traefik
def test_verified_domain_updates_the_apps_address_in_place(platform, resolver):  # noqa: F811
    team = make_team("addr")
    subscribe(team, max_custom_domains=5)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {api_key_create(team=team, name='k').plaintext}")
    instance, _ = create("addr-app", team=team)
    default_url = instance.url
    assert _env(instance)["HELLO_URL"] == default_url
    created_at = _cat(instance, "/data/created_at")

    assert client.post("/api/v1/instances/addr-app/domains", data={"domain": "shop.example.org"},
                       content_type="application/json").status_code == 201
    resolver.post("/set-cname", host="shop.example.org", target=instance.host)
    resolver.post("/set-txt", host="_tenantry.shop.example.org.", value=ownership_token(team, "shop.example.org"))
    try:
        verified = client.post("/api/v1/instances/addr-app/domains/shop.example.org/verify")
        assert verified.status_code == 200, verified.content
        operation = last_operation(instance)
        assert operation.kind == "readdress" and operation.status == "succeeded", operation.error_message
        assert operation.actor == "system:domains"
        custom_url = default_url.replace(instance.host, "shop.example.org")
        assert _env(instance)["HELLO_URL"] == custom_url
        # the same volume: data kept, one more boot
        assert _cat(instance, "/data/created_at") == created_at
        assert len(_cat(instance, "/data/boots").split()) == 2
        assert fresh(instance).status == Status.RUNNING
        platform.wait_for_body("shop.example.org", "Hello from addr-app")
        platform.wait_for_body(instance.host, "Hello from addr-app")

        # a second domain leaves the address as it is: no redeployment
        assert client.post("/api/v1/instances/addr-app/domains", data={"domain": "second.example.org"},
                           content_type="application/json").status_code == 201
        resolver.post("/set-cname", host="second.example.org", target=instance.host)
        resolver.post("/set-txt", host="_tenantry.second.example.org.",
                      value=ownership_token(team, "second.example.org"))
        assert client.post("/api/v1/instances/addr-app/domains/second.example.org/verify").status_code == 200
        assert last_operation(instance).pk == operation.pk

        # removing the domain the address names moves it to the next verified one, then home
        assert client.delete("/api/v1/instances/addr-app/domains/shop.example.org").status_code == 204
        assert last_operation(instance).kind == "readdress" and last_operation(instance).pk != operation.pk
        assert _env(instance)["HELLO_URL"] == default_url.replace(instance.host, "second.example.org")
        assert client.delete("/api/v1/instances/addr-app/domains/second.example.org").status_code == 204
        assert _env(instance)["HELLO_URL"] == default_url
        assert _cat(instance, "/data/created_at") == created_at
        platform.wait_for_body(instance.host, "Hello from addr-app")
    finally:
        for domain in ("shop.example.org", "second.example.org"):
            resolver.post("/clear-cname", host=domain)
            resolver.post("/clear-txt", host=f"_tenantry.{domain}.")


@pytest.mark.docker
@pytest.mark.traefik
def test_a_sleeping_app_takes_its_new_address_when_it_wakes(platform, resolver):  # noqa: F811
    team = make_team("addrz")
    subscribe(team, max_custom_domains=5)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {api_key_create(team=team, name='k').plaintext}")
    instance, _ = create("addrz-app", team=team)
    created_at = _cat(instance, "/data/created_at")
    hibernated = instance_hibernate(instance=fresh(instance), actor="test")
    assert Operation.objects.get(pk=hibernated.pk).status == "succeeded"
    assert fresh(instance).status == Status.HIBERNATED

    assert client.post("/api/v1/instances/addrz-app/domains", data={"domain": "sleepy.example.org"},
                       content_type="application/json").status_code == 201
    resolver.post("/set-cname", host="sleepy.example.org", target=instance.host)
    resolver.post("/set-txt", host="_tenantry.sleepy.example.org.", value=ownership_token(team, "sleepy.example.org"))
    try:
        assert client.post("/api/v1/instances/addrz-app/domains/sleepy.example.org/verify").status_code == 200
        # No redeployment of a sleeping app (that would wake it): it is marked, and still asleep.
        assert last_operation(instance).pk == hibernated.pk
        assert fresh(instance).settings_stale is True and fresh(instance).status == Status.HIBERNATED

        woken = instance_wake(instance=fresh(instance), actor="test")
        woken = Operation.objects.get(pk=woken.pk)
        assert woken.status == "succeeded", woken.error_message
        assert _env(instance)["HELLO_URL"] == instance.url.replace(instance.host, "sleepy.example.org")
        assert _cat(instance, "/data/created_at") == created_at  # the same volume
        assert fresh(instance).settings_stale is False
        platform.wait_for_body("sleepy.example.org", "Hello from addrz-app")

        # An ordinary wake afterwards leaves the containers alone (no engine work for nothing).
        instance_hibernate(instance=fresh(instance), actor="test")
        again = Operation.objects.get(pk=instance_wake(instance=fresh(instance), actor="test").pk)
        refresh = again.steps.get(name="refresh_stale_containers")
        assert "unchanged" in refresh.log
    finally:
        resolver.post("/clear-cname", host="sleepy.example.org")
        resolver.post("/clear-txt", host="_tenantry.sleepy.example.org.")


@pytest.mark.django_db
@pytest.mark.parametrize("scheme", ["http", "https"])
def test_every_apps_public_settings_follow_the_domain_and_scheme(settings, scheme):
    settings.TENANTRY = {**settings.TENANTRY, "PUBLIC_SCHEME": scheme, "PUBLIC_PORT": ""}
    team = make_team("specs")
    expected = {
        "n8n": ("main", {"N8N_HOST": "{host}", "N8N_PROTOCOL": scheme, "WEBHOOK_URL": "{url}/",
                         "N8N_EDITOR_BASE_URL": "{url}/",
                         "N8N_SECURE_COOKIE": "true" if scheme == "https" else "false"}),
        "wordpress": ("web", {"WORDPRESS_CONFIG_EXTRA": "define('WP_HOME', '{url}'); "
                                                              "define('WP_SITEURL', '{url}');"}),
        "hello": ("web", {"HELLO_URL": "{url}"}),
    }
    for index, (app, (service, env)) in enumerate(expected.items()):
        instance = Instance.objects.create(team=team, slug=f"{app}-x", app=app, server=default_server(),
                                           memory_mb=1024, cpus=Decimal("1"), pids=512, status=Status.RUNNING,
                                           subnet=f"10.99.{index}.0/28")
        create_instance_secrets(instance, get_app(app).secrets)
        for host in (instance.host, f"{app}.example.com"):
            if host != instance.host:
                CustomDomain.objects.create(team=team, instance=instance, domain=host, token="t",
                                            status=DomainStatus.VERIFIED)
            rendered = build_deployment(instance).container(service).environment
            url = f"{scheme}://{host}"
            for name, value in env.items():
                assert rendered[name] == value.format(host=host, url=url), (app, host, name)
