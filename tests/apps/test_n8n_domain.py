"""A real n8n instance given a custom domain: its own URL settings (N8N_HOST, WEBHOOK_URL, the
editor's base URL) move to the domain in place, its workflows survive the redeployment, and its
webhook answers at the domain through the proxy."""

from __future__ import annotations

import pytest

from tenantry.instances.deployment import build_deployment
from tenantry.routing import services as domains
from tenantry.routing.services import ownership_token
from tenantry.runtime.registry import runtime_for
from tests.apps.test_n8n import api_client, provisioned
from tests.billing.entitlement_helpers import subscribe
from tests.instances.helpers import last_operation
from tests.routing.test_domains import dns_server, resolver  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.docker, pytest.mark.traefik, pytest.mark.n8n, pytest.mark.slow]


def _env(instance) -> dict[str, str]:
    output = runtime_for(instance.server).exec(build_deployment(instance), "main", ["env"]).output
    return dict(line.split("=", 1) for line in output.splitlines() if "=" in line)


def test_n8n_takes_its_custom_domain_in_place(platform, resolver):  # noqa: F811
    instance = provisioned("n8n-dom")
    subscribe(instance.team, max_custom_domains=3)
    before = _env(instance)
    assert before["WEBHOOK_URL"] == f"{instance.url}/" and before["N8N_HOST"] == instance.host
    client = api_client(instance.team)
    workflows = client.get("/api/v1/instances/n8n-dom/workflows").json()
    assert [w["name"] for w in workflows] == ["Echo"]

    row = domains.domain_add(instance=instance, domain="hooks.example.org", actor="test")
    resolver.post("/set-cname", host="hooks.example.org", target=instance.host)
    resolver.post("/set-txt", host="_tenantry.hooks.example.org.", value=ownership_token(instance.team,
                                                                                          "hooks.example.org"))
    try:
        domains.domain_verify(custom_domain=row, actor="test")
        operation = last_operation(instance)
        assert operation.kind == "readdress" and operation.status == "succeeded", operation.error_message
        after = _env(instance)
        public = instance.url.replace(instance.host, "hooks.example.org")
        assert after["WEBHOOK_URL"] == f"{public}/" and after["N8N_EDITOR_BASE_URL"] == f"{public}/"
        assert after["N8N_HOST"] == "hooks.example.org" and after["N8N_PROTOCOL"] == "http"
        assert after["N8N_ENCRYPTION_KEY"] == before["N8N_ENCRYPTION_KEY"]
        # Same data: the workflow is still there and active, and its webhook answers at the domain.
        assert [w["name"] for w in client.get("/api/v1/instances/n8n-dom/workflows").json()] == ["Echo"]
        echo = platform.request("POST", "hooks.example.org", "/webhook/echo", json={"message": "via domain"},
                                timeout=30)
        assert echo.status_code == 200 and "via domain" in echo.text, echo.text
        assert platform.request("POST", instance.host, "/webhook/echo", json={"message": "home"},
                                timeout=30).status_code == 200
    finally:
        resolver.post("/clear-cname", host="hooks.example.org")
        resolver.post("/clear-txt", host="_tenantry.hooks.example.org.")
