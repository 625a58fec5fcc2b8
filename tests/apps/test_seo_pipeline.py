"""The SEO pipeline run for real inside n8n (image tenantry/n8n:2.8.4): "Run now" on SEO 1 expands
the seed keyword, SEO 2 stores the clusters in n8n's data table and hands over to SEO 3, which
writes an article and publishes it. Only the language model is a stand-in (tests/llm_stub.py),
reached through the n8n OpenAI credential's base URL like OpenAI itself in production."""

from __future__ import annotations

import pytest

from tenantry.automations.services import workflow_run_now
from tests.apps.seo_helpers import (
    LLM_KEY,
    SEO_TEMPLATES,
    clusters,
    execution_error,
    llm,  # noqa: F401 (fixture)
    wait_for_executions,
    workflow_ids,
)
from tests.apps.test_n8n import provisioned
from tests.llm_stub import TEST_APP, clusters as stub_clusters, docker_host_address, variations

pytestmark = [pytest.mark.docker, pytest.mark.traefik, pytest.mark.n8n, pytest.mark.slow]


@pytest.mark.timeout(600)
def test_unreachable_wordpress_fails_the_publication_and_keeps_the_cluster_pending(platform, llm, docker_client):
    instance = provisioned("seo-unreachable", app_name=TEST_APP, templates=SEO_TEMPLATES, inputs={
        "openai_api_key": LLM_KEY, "openai_base_url": llm.base_url(docker_host_address(docker_client)),
        "seed_keyword": "self-hosting", "wordpress_url": "http://127.0.0.1:9", "wordpress_username": "editor",
        "wordpress_app_password": "abcd efgh ijkl mnop"})
    ids = workflow_ids(instance)
    assert sorted(ids) == ["seo-1", "seo-2", "seo-3"]

    run = workflow_run_now(instance=instance, workflow_id=ids["seo-1"], actor="test")
    assert run.how == "ran it by hand"

    # SEO 1 asked the stand-in with the seed and the stored key; SEO 2 saved its clusters.
    [expanded] = wait_for_executions(platform, instance, ids["seo-1"], 1)
    assert expanded["status"] == "success", execution_error(expanded)
    [clustered] = wait_for_executions(platform, instance, ids["seo-2"], 1)
    assert clustered["status"] == "success", execution_error(clustered)
    expected = [", ".join(c) for c in stub_clusters(variations("self-hosting"))]
    assert sorted(row["keywords"] for row in clusters(platform, instance)) == sorted(expected)
    assert {c.authorization for c in llm.calls} == {f"Bearer {LLM_KEY}"}
    assert 'keyword variations of "self-hosting"' in llm.prompts()[0]

    # SEO 3 wrote the first cluster's article, WordPress could not be reached: the execution
    # failed at the publication with the reason, and every cluster is still pending.
    [published] = wait_for_executions(platform, instance, ids["seo-3"], 1)
    assert published["status"] == "error"
    node, message = execution_error(published)
    assert node == "Publish on WordPress", message
    assert "ECONNREFUSED" in message or "connect" in message.lower(), message
    assert f"targeting the keywords: {expected[0]}." in llm.prompts()[-1]
    assert {row["status"] for row in clusters(platform, instance)} == {"pending"}
