"""Articles against a real n8n provisioned by Tenantry with the SEO templates: WF3 ("Publish one
article") runs for real, its executions are read through n8n's API, its posts recorded and
metered once, its failures shown with n8n's reason; at the plan's 2 articles a week WF3 is
deactivated in n8n (nothing else), a third run publishes nothing and says why, and a new week
(time injected) reactivates it. The page and the API show the team's own articles only.

WF3 talks to a language model and a WordPress site. Here both are stand-ins served by the same
n8n (two webhook workflows of the test's, on n8n's own address inside its container): the
language model as OpenAI's chat completions answer, WordPress as its REST API answers
`POST /wp-json/wp/v2/posts` (the post's id, link, title, status, date_gmt). The stand-ins'
executions keep what WF3 sent them, which the test checks.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from tenantry.accounts.services.api_keys import api_key_create
from tenantry.accounts.services.teams import team_create
from tenantry.articles.models import Article, PublishRun
from tenantry.articles.services import publish_workflow_id
from tenantry.automations.services import automation_for
from tenantry.core.schedule import team_time_zone, week_bounds
from tenantry.events.dispatch import dispatch_pending_events
from tenantry.instances.models import OperationStatus, Status
from tenantry.instances.secrets import instance_outputs
from tenantry.metering.models import UsageEvent
from tenantry.notifications.models import Notification
from tests.billing.entitlement_helpers import subscribe
from tests.conftest import wait_for
from tests.dashboard.helpers import make_user, signed_in
from tests.instances.helpers import create, fresh

pytestmark = [pytest.mark.docker, pytest.mark.traefik, pytest.mark.n8n, pytest.mark.slow]

SEO = ["seo-1-expand", "seo-2-cluster", "seo-3-publish"]
OPENAI_KEY = "sk-test-articles-0123456789abcdef"
WP_PASSWORD = "abcd efgh ijkl mnop"
INSIDE = "http://127.0.0.1:5678/webhook"  # n8n's own address, from inside its container
FIXTURES = Path(__file__).parent / "fixtures"


def _webhook_flow(name: str, path: str, body: str, code: int = 200) -> dict:
    """A webhook workflow that answers `body` (an n8n expression giving a JSON string)."""
    return {
        "name": name, "settings": {"executionOrder": "v1"},
        "nodes": [
            {"parameters": {"httpMethod": "POST", "path": path, "responseMode": "responseNode", "options": {}},
             "name": "Request", "type": "n8n-nodes-base.webhook", "typeVersion": 2, "position": [0, 0],
             "webhookId": str(uuid.uuid4())},
            {"parameters": {"respondWith": "json", "responseBody": body, "options": {"responseCode": code}},
             "name": "Answer", "type": "n8n-nodes-base.respondToWebhook", "typeVersion": 1.1, "position": [220, 0]}],
        "connections": {"Request": {"main": [[{"node": "Answer", "type": "main", "index": 0}]]}},
    }


# The language model: the article for the keywords named in the prompt, as chat completions answer.
LLM = _webhook_flow("Stand-in: language model", "llm/v1/chat/completions", (
    "={{ JSON.stringify({id: 'chatcmpl-test', object: 'chat.completion', model: $json.body.model, choices: [{"
    "index: 0, finish_reason: 'stop', message: {role: 'assistant', content: JSON.stringify({"
    "title: 'Guide: ' + $json.body.messages[0].content.split('keywords: ')[1].split('. Answer')[0], "
    "html: '<p>Everything about ' + $json.body.messages[0].content.split('keywords: ')[1].split('. Answer')[0] "
    "+ '.</p>' }) } } ] }) }}"))  # never two closing braces in a row inside: they end the expression
# WordPress: the created post as its REST API answers (id and link from the stand-in's execution).
WORDPRESS = _webhook_flow("Stand-in: WordPress", "wp/wp-json/wp/v2/posts", (
    "={{ JSON.stringify({id: Number($execution.id), link: 'http://blog.example/?p=' + $execution.id, "
    "type: 'post', status: $json.body.status, title: {raw: $json.body.title, rendered: $json.body.title}, "
    "date_gmt: $now.toUTC().toFormat(\"yyyy-MM-dd'T'HH:mm:ss\")}) }}"), code=201)


class N8n:
    """The instance's n8n, through the proxy, with Tenantry's API key (what a customer's script
    or editor could do, too)."""

    def __init__(self, platform, instance):
        self.platform, self.instance = platform, instance
        self.headers = {"X-N8N-API-KEY": instance_outputs(instance)["api-key"]["key"]}

    def __call__(self, method: str, path: str, **kwargs):
        answer = self.platform.request(method, self.instance.host, f"/api/v1{path}", headers=self.headers, **kwargs)
        assert answer.status_code < 300, f"{method} {path}: {answer.status_code} {answer.text[:300]}"
        return answer.json() if answer.content else {}

    def active(self) -> dict[str, bool]:
        return {w["name"]: w["active"] for w in self("GET", "/workflows")["data"]}

    def executions(self, workflow_id: str) -> list[dict]:
        return self("GET", "/executions", params={"workflowId": workflow_id, "limit": 100})["data"]


def _api(team) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {api_key_create(team=team, name='articles').plaintext}")


def test_articles_recorded_limited_weekly_and_shown_from_a_real_n8n(platform, settings):
    settings.TENANTRY = {**settings.TENANTRY, "HEALTH_TIMEOUT_SECONDS": 400}  # a loaded machine boots n8n slowly
    owner = make_user("writer@example.com")
    team = team_create(name="Writers", owner=owner, actor="test")
    team.time_zone = "Pacific/Auckland"  # the week ends on Auckland's Monday, not UTC's
    team.save(update_fields=["time_zone"])
    subscribe(team, memory_mb=1024, cpus=1, app_limits={"n8n": {"articles_week": 2}})
    instance, operation = create("seo", app="n8n", team=team, templates=SEO, inputs={
        "openai_api_key": OPENAI_KEY, "wordpress_url": f"{INSIDE}/wp", "wordpress_username": "editor",
        "wordpress_app_password": WP_PASSWORD, "seed_keyword": "compost"})
    assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    assert fresh(instance).status == Status.RUNNING
    n8n = N8n(platform, instance)
    wf3 = publish_workflow_id(instance)
    assert wf3 is not None

    # The stand-ins, and WF3's language-model call pointed at its stand-in (the template names
    # OpenAI's address; production keeps it).
    stand_ins = {}
    for flow in (LLM, WORDPRESS):
        stand_ins[flow["name"]] = n8n("POST", "/workflows", json=flow)["id"]
        n8n("POST", f"/workflows/{stand_ins[flow['name']]}/activate")
    backend = automation_for(instance)
    current = n8n("GET", f"/workflows/{wf3}")
    body = json.loads(json.dumps({k: current[k] for k in ("name", "nodes", "connections", "settings")})
                      .replace("https://api.openai.com/v1", f"{INSIDE}/llm/v1"))
    backend.replace_workflow(wf3, body)
    # Four keyword clusters waiting, as WF2 leaves them.
    table = instance_outputs(instance)["clusters-table"]["id"]
    n8n("POST", f"/data-tables/{table}/rows", json={"data": [
        {"keywords": f"compost {word}", "status": "pending"} for word in ("bins", "tea", "worms", "heat")]})
    before = n8n.active()
    assert all(before.values()) and len(before) == 5, before

    api = _api(team)

    def run_wf3_and_read(expected_runs: int) -> dict:
        started = api.post(f"/api/v1/instances/seo/workflows/{wf3}/run")
        assert started.status_code == 202, started.json()
        wait_for(lambda: len([e for e in n8n.executions(wf3) if e["status"] not in ("running", "new")])
                 >= expected_runs, timeout=60, what=f"WF3 run {expected_runs} finished")
        refreshed = api.post("/api/v1/instances/seo/articles/refresh")
        assert refreshed.status_code == 200, refreshed.json()
        return refreshed.json()

    # 1. An article is published and recorded.
    first = run_wf3_and_read(1)
    assert (first["runs"], first["articles"], first["failures"], first["paused"]) == (1, 1, 0, False), \
        api.get("/api/v1/instances/seo/articles").json()["failed_runs"]
    listed = api.get("/api/v1/instances/seo/articles").json()
    assert listed["week"]["published"] == 1 and listed["week"]["limit"] == 2
    assert listed["week"]["paused_until"] is None and listed["week"]["time_zone"] == "Pacific/Auckland"
    article = listed["articles"][0]
    assert article["title"] == "Guide: compost bins" and article["status"] == "publish"
    assert article["url"] == f"http://blog.example/?p={article['post_id']}"
    # What WordPress received: the article the model wrote, published, with the stored credential.
    received = n8n("GET", f"/executions/{n8n.executions(stand_ins['Stand-in: WordPress'])[0]['id']}",
                   params={"includeData": "true"})
    request = received["data"]["resultData"]["runData"]["Request"][0]["data"]["main"][0][0]["json"]
    assert request["body"]["title"] == "Guide: compost bins" and request["body"]["status"] == "publish"
    assert request["body"]["content"] == "<p>Everything about compost bins.</p>"
    assert request["headers"]["authorization"].startswith("Basic ")
    _capture("wf3-published.json", n8n, n8n.executions(wf3)[0]["id"])

    # 2. The language model does not answer: the run fails, its reason shown, nothing published.
    n8n("POST", f"/workflows/{stand_ins['Stand-in: language model']}/deactivate")
    failed = run_wf3_and_read(2)
    assert (failed["runs"], failed["articles"], failed["failures"]) == (1, 0, 1)
    run = api.get("/api/v1/instances/seo/articles").json()["failed_runs"][0]
    assert run["failed_node"] == "Write the article" and run["status"] == "error"
    assert "llm/v1/chat/completions" in run["reason"] and "not registered" in run["reason"], run["reason"]
    assert OPENAI_KEY not in json.dumps(run) and WP_PASSWORD not in json.dumps(run)
    _capture("wf3-failed.json", n8n, n8n.executions(wf3)[0]["id"])
    page = signed_in(owner).get(f"/t/{team.slug}/instances/seo/articles/").content.decode()
    assert "Guide: compost bins" in page and "not registered" in page and "1 of 2 articles" in page

    # 3. Back: the cluster that failed is written again and published; the week's limit is reached.
    n8n("POST", f"/workflows/{stand_ins['Stand-in: language model']}/activate")
    second = run_wf3_and_read(3)
    assert (second["articles"], second["paused"]) == (1, True)
    after = n8n.active()
    assert after == {**before, current["name"]: False}  # WF3 alone is off, everything else as it was
    dispatch_pending_events()
    note = Notification.objects.get(user=owner, event_type="articles.paused")
    assert "this week's 2 articles are published" in note.title
    page = signed_in(owner).get(f"/t/{team.slug}/instances/seo/articles/").content.decode()
    assert 'id="articles-paused"' in page and "2 of 2 articles" in page

    # 4. A third run publishes nothing and says why.
    runs_before = len(n8n.executions(wf3))
    posts_before = len(n8n.executions(stand_ins["Stand-in: WordPress"]))
    third = api.post(f"/api/v1/instances/seo/workflows/{wf3}/run")
    assert third.status_code == 409 and third.json()["code"] == "workflow_paused"
    assert "this week's articles" in third.json()["message"]
    assert len(n8n.executions(wf3)) == runs_before
    assert len(n8n.executions(stand_ins["Stand-in: WordPress"])) == posts_before == 2

    # 5. Reading again records nothing twice and meters nothing twice.
    again = api.post("/api/v1/instances/seo/articles/refresh").json()
    assert (again["runs"], again["articles"]) == (0, 0)
    assert Article.objects.filter(instance=instance).count() == 2
    assert PublishRun.objects.filter(instance=instance).count() == 3
    assert UsageEvent.objects.filter(instance=instance, meter__code="articles").count() == 2

    # 6. Another team sees none of it.
    stranger = make_user("stranger@example.com")
    other = team_create(name="Others", owner=stranger, actor="test")
    assert _api(other).get("/api/v1/instances/seo/articles").status_code == 404
    assert signed_in(stranger).get(f"/t/{team.slug}/instances/seo/articles/").status_code == 404

    # 7. A new week on the team's clock: WF3 is active again in n8n, and runs.
    _, week_end = week_bounds(timezone.now(), team_time_zone(team))
    with time_machine.travel(week_end + timedelta(minutes=1), tick=True):
        resumed = api.post("/api/v1/instances/seo/articles/refresh").json()
        assert resumed["resumed"] is True
        assert n8n.active() == before
        assert api.get("/api/v1/instances/seo/articles").json()["week"]["published"] == 0
        fourth = run_wf3_and_read(4)
        assert fourth["articles"] == 1 and fourth["paused"] is False
    assert UsageEvent.objects.filter(instance=instance, meter__code="articles").count() == 3


def _capture(name: str, n8n: N8n, execution_id: str) -> None:
    """With TENANTRY_CAPTURE_FIXTURES=1, keep the execution as n8n's API answers it (with data)
    for the extraction's unit tests (tests/articles/fixtures/)."""
    if os.environ.get("TENANTRY_CAPTURE_FIXTURES") != "1":
        return
    FIXTURES.mkdir(exist_ok=True)
    answer = n8n("GET", f"/executions/{execution_id}", params={"includeData": "true"})
    (FIXTURES / name).write_text(json.dumps(answer, indent=1, sort_keys=True) + "\n")
