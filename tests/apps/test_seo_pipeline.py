"""The SEO pipeline run for real inside n8n (image tenantry/n8n:2.8.4): "Run now" on SEO 1 expands
the seed keyword, SEO 2 stores the clusters in n8n's data table and hands over to SEO 3, which
writes an article and publishes it. Only the language model is a stand-in (tests/llm_stub.py),
reached through the n8n OpenAI credential's base URL like OpenAI itself in production."""

from __future__ import annotations

import html

import pytest

from tenantry.automations.services import workflow_run_now
from tests.apps.seo_helpers import (
    LLM_KEY,
    SEO_TEMPLATES,
    clusters,
    execution_error,
    llm,  # noqa: F401 (fixture)
    posts,
    run_now,
    wait_for_executions,
    workflow_ids,
)
from tests.apps.test_n8n import API, api_client, provisioned
from tests.apps.test_wordpress import app_password, provisioned_wordpress
from tests.conftest import wait_for
from tests.llm_stub import TEST_APP, article, docker_host_address, variations
from tests.llm_stub import clusters as stub_clusters

pytestmark = [pytest.mark.docker, pytest.mark.traefik, pytest.mark.n8n, pytest.mark.slow]
SEED = "self-hosting"
EXPECTED_CLUSTERS = [", ".join(c) for c in stub_clusters(variations(SEED))]


def statuses(platform, instance) -> dict[str, str]:
    return {row["keywords"]: row["status"] for row in clusters(platform, instance)}


@pytest.mark.wordpress
@pytest.mark.timeout(1500)
def test_run_now_on_seo_1_publishes_a_post_and_retries_never_publish_twice(platform, llm, docker_client):  # noqa: F811
    press = provisioned_wordpress("press")
    llm.site_door.site_host = press.host
    flows = provisioned("seo-press", app_name=TEST_APP, templates=SEO_TEMPLATES, inputs={
        "openai_api_key": LLM_KEY, "openai_base_url": llm.base_url(docker_host_address(docker_client)),
        "seed_keyword": SEED, "wordpress_url": llm.site_door.url, "wordpress_username": "admin",
        "wordpress_app_password": app_password(press)})
    ids = workflow_ids(flows)
    assert posts(platform, press) == [] or [p["slug"] for p in posts(platform, press)] == ["hello-world"]
    before = {p["id"] for p in posts(platform, press)}

    def new_posts() -> list[dict]:
        return [p for p in posts(platform, press) if p["id"] not in before]

    # "Run now" on SEO 1 (through Tenantry's API) drives the chain: a post appears on the site,
    # as the template says — the stand-in's article for the first cluster, published, category 1.
    assert run_now(flows, ids["seo-1"])["how"] == "ran it by hand"
    # Generous: on a loaded machine n8n's task runner (which runs the Code nodes) registers minutes late.
    [post] = wait_for(new_posts, timeout=900, interval=2, what="the post on WordPress")
    first = article(EXPECTED_CLUSTERS[0])
    assert html.unescape(post["title"]["rendered"]) == first["title"]
    assert post["status"] == "publish" and post["categories"] == [1]
    assert first["html"] in post["content"]["rendered"].replace("\n", "")  # WordPress breaks lines
    assert html.unescape(post["excerpt"]["rendered"]).strip() == f"<p>{first['excerpt']}</p>"
    assert post["link"].startswith(press.url)
    [done] = wait_for_executions(platform, flows, ids["seo-3"], 1)
    assert done["status"] == "success", execution_error(done)
    wait_for(lambda: statuses(platform, flows)[EXPECTED_CLUSTERS[0]] == "published", timeout=30,
             what="the first cluster marked published")
    assert {v for k, v in statuses(platform, flows).items() if k != EXPECTED_CLUSTERS[0]} == {"pending"}

    # The model answers an error, then garbage: SEO 3 fails with the reason, nothing is published,
    # the cluster stays pending.
    for mode, failed_node, reason in (("error", "Write the article", "stand-in model is down"),
                                      ("garbage", "Read the article", "did not answer the JSON asked for")):
        llm.mode = mode
        count = len(wait_for_executions(platform, flows, ids["seo-3"], 1))
        run_now(flows, ids["seo-3"])
        latest = wait_for_executions(platform, flows, ids["seo-3"], count + 1)[0]
        assert latest["status"] == "error"
        node, message = execution_error(latest)
        assert node == failed_node and reason in message, (node, message)
        assert len(new_posts()) == 1
        assert statuses(platform, flows)[EXPECTED_CLUSTERS[1]] == "pending"

    # The model back: the next run publishes the pending cluster once, the one after the next one.
    llm.mode = "ok"
    for index in (1, 2):
        count = len(wait_for_executions(platform, flows, ids["seo-3"], 1))
        run_now(flows, ids["seo-3"])
        latest = wait_for_executions(platform, flows, ids["seo-3"], count + 1)[0]
        assert latest["status"] == "success", execution_error(latest)
        titles = sorted(html.unescape(p["title"]["rendered"]) for p in new_posts())
        assert titles == sorted(article(c)["title"] for c in EXPECTED_CLUSTERS[:index + 1])
        assert statuses(platform, flows)[EXPECTED_CLUSTERS[index]] == "published"

    # The application password revoked in WordPress: the publication is refused, no post, the
    # cluster stays pending with WordPress's answer in the execution.
    db = next(c for c in docker_client.containers.list(filters={"label": f"tenantry.instance={press.id}"})
              if c.labels.get("tenantry.service") == "db")
    revoked = db.exec_run(["sh", "-c", 'MYSQL_PWD="$MARIADB_ROOT_PASSWORD" mariadb -uroot wordpress -e '
                                       "\"DELETE FROM wp_usermeta WHERE meta_key = '_application_passwords'\""])
    assert revoked.exit_code == 0, revoked.output
    count = len(wait_for_executions(platform, flows, ids["seo-3"], 1))
    run_now(flows, ids["seo-3"])
    latest = wait_for_executions(platform, flows, ids["seo-3"], count + 1)[0]
    assert latest["status"] == "error"
    node, message = execution_error(latest)
    assert node == "Publish on WordPress" and "Authorization failed" in message, (node, message)
    assert statuses(platform, flows)[EXPECTED_CLUSTERS[3]] == "pending"
    assert len(new_posts()) == 3

    # Tenantry recorded the three articles from SEO 3's executions (its Articles page and API),
    # and the three failed runs with their reasons. The GET shows what was read; reading n8n is
    # the 2-minute task's work, or the customer's "Read from n8n now" (the POST).
    api = api_client()
    assert api.post(f"{API}/{flows.slug}/articles/refresh").status_code == 200
    recorded = api.get(f"{API}/{flows.slug}/articles").json()
    assert recorded["read_at"] is not None
    assert recorded["total"] == 3 and recorded["week"]["published"] == 3
    assert sorted((a["title"], a["url"]) for a in recorded["articles"]) == sorted(
        (html.unescape(p["title"]["rendered"]), p["link"]) for p in new_posts())
    failures = [(r["failed_node"], r["reason"]) for r in recorded["failed_runs"]]
    assert [node for node, _ in failures] == ["Publish on WordPress", "Read the article", "Write the article"]
    assert "Authorization failed" in failures[0][1] and "did not answer the JSON" in failures[1][1]
    assert all(LLM_KEY not in reason and app_password(press) not in reason for _, reason in failures)


@pytest.mark.timeout(600)
def test_unreachable_wordpress_fails_the_publication_and_keeps_the_cluster_pending(platform, llm, docker_client):  # noqa: F811
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
    expected = EXPECTED_CLUSTERS
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
