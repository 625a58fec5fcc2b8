"""What the SEO pipeline tests share: the language-model stand-in reachable from n8n, and reads of
what n8n did (its data table, its executions) through its public API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tenantry.automations.services import workflows_list
from tenantry.catalog.registry import reload_catalog
from tenantry.instances.secrets import instance_outputs
from tests.apps.test_n8n import API, api_client, n8n_key
from tests.conftest import Proxy, wait_for
from tests.llm_stub import LlmStub, SiteDoor, docker_host_address, write_test_spec

SEO_TEMPLATES = ["seo-1-expand", "seo-2-cluster", "seo-3-publish"]
LLM_KEY = "sk-stub-0123456789abcdef"


@pytest.fixture()
def llm(docker_client, traefik, settings, tmp_path) -> Iterator[LlmStub]:
    """The stand-in, a door to WordPress sites (`llm.site_door`), and the catalog app `n8n-llm`
    (n8n allowed to reach both on the host) for this test."""
    address = docker_host_address(docker_client)
    stub = LlmStub(api_key=LLM_KEY, address=(address, 0))
    door = SiteDoor(address, traefik.port)
    stub.site_door = door  # type: ignore[attr-defined]
    # n8n may take minutes to start on a loaded test machine.
    settings.TENANTRY = {**settings.TENANTRY, "CATALOG_DIRS": [*settings.TENANTRY["CATALOG_DIRS"], str(tmp_path)],
                         "HEALTH_TIMEOUT_SECONDS": 300}
    reload_catalog()
    write_test_spec(tmp_path, stub.port, door.server.server_address[1])
    reload_catalog()
    yield stub
    door.close()
    stub.close()
    reload_catalog()


def posts(platform: Proxy, site: Any) -> list[dict]:
    """The site's posts, read back through its REST API as any visitor reads them (published)."""
    answer = platform.get(site.host, "/wp-json/wp/v2/posts", params={"per_page": 100}, timeout=30)
    assert answer.status_code == 200, answer.text[:300]
    return answer.json()


def run_now(instance: Any, workflow_id: str) -> dict:
    """"Run now" through Tenantry's API, as the instance's team."""
    answer = api_client(instance.team).post(f"{API}/{instance.slug}/workflows/{workflow_id}/run")
    assert answer.status_code == 202, answer.content
    return answer.json()


def n8n_call(platform: Proxy, instance: Any, method: str, path: str, **kwargs: Any) -> Any:
    answer = platform.request(method, instance.host, f"/api/v1{path}", headers={"X-N8N-API-KEY": n8n_key(instance)},
                              timeout=30, **kwargs)
    assert answer.status_code < 300, answer.text
    return answer.json()


def clusters(platform: Proxy, instance: Any) -> list[dict]:
    table = instance_outputs(instance)["clusters-table"]["id"]
    return n8n_call(platform, instance, "GET", f"/data-tables/{table}/rows", params={"limit": 250})["data"]


def workflow_ids(instance: Any) -> dict[str, str]:
    """"seo-1" → the id of SEO 1 in this n8n (by the templates' names)."""
    return {f"seo-{w.name.split(' ')[1]}": w.id for w in workflows_list(instance=instance) if w.name.startswith("SEO")}


def finished_executions(platform: Proxy, instance: Any, workflow_id: str) -> list[dict]:
    """The workflow's finished executions with their data (newest first)."""
    found = n8n_call(platform, instance, "GET", "/executions",
                     params={"workflowId": workflow_id, "includeData": "true", "limit": 50})["data"]
    return [e for e in found if e.get("stoppedAt")]


def wait_for_executions(platform: Proxy, instance: Any, workflow_id: str, count: int,
                        timeout: float = 120) -> list[dict]:
    return wait_for(lambda: (lambda found: found if len(found) >= count else None)(
        finished_executions(platform, instance, workflow_id)), timeout=timeout, interval=1,
        what=f"{count} finished execution(s) of workflow {workflow_id}")


def execution_error(execution: dict) -> tuple[str, str]:
    """(the node that failed, n8n's message) of a failed execution."""
    result = execution["data"]["resultData"]
    error = result.get("error") or {}
    return result.get("lastNodeExecuted", ""), error.get("message", "") + " " + str(error.get("description") or "")
