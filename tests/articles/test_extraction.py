"""Reading what a publishing run did from n8n's execution JSON, on executions captured from a real
n8n 2.8.4 (the `tenantry/n8n:2.8.4` image) by test_articles_n8n.py with
TENANTRY_CAPTURE_FIXTURES=1: `GET /api/v1/executions/{id}?includeData=true` of WF3
(`seo-3-publish`), once published and once failed because its language model's address answered
404. In the published one, the WordPress node's output is what the test's WordPress stand-in
answered, shaped as WordPress's `POST /wp-json/wp/v2/posts` answers (id, link, title raw and
rendered, status, date_gmt, type)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path

from tenantry.automations.backends.n8n import _execution
from tenantry.automations.backends.n8n_posts import clean_reason, publish_run
from tenantry.instances.tenant_http import redactor

FIXTURES = Path(__file__).parent / "fixtures"
NO_SECRETS = redactor([])


def _load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def _read(detail: dict, redact=NO_SECRETS):
    return publish_run(_execution(detail), detail, redact=redact)


def test_a_published_run_gives_its_post():
    run = _read(_load("wf3-published.json"))
    assert run.execution.status == "success" and run.error == "" and run.failed_node == ""
    assert len(run.posts) == 1
    post = run.posts[0]
    assert (post.post_id, post.title, post.url, post.status) == ("3", "Guide: compost bins",
                                                                  "http://blog.example/?p=3", "publish")
    assert post.published_at == datetime(2026, 12, 2, 14, 41, 6, tzinfo=UTC)


def test_posts_are_found_by_node_type_and_by_shape():
    detail = _load("wf3-published.json")
    # The customer renamed the WordPress node: its type still says what it is.
    renamed = copy.deepcopy(detail)
    run_data = renamed["data"]["resultData"]["runData"]
    run_data["Post it"] = run_data.pop("Publish on WordPress")
    for node in renamed["workflowData"]["nodes"]:
        if node["name"] == "Publish on WordPress":
            node["name"] = "Post it"
    assert [p.post_id for p in _read(renamed).posts] == ["3"]
    # Without the workflow (an older n8n), a post is told by its shape; the data table's rows
    # (an id and a status too, but no link) are not posts.
    bare = copy.deepcopy(detail)
    del bare["workflowData"]
    assert [p.post_id for p in _read(bare).posts] == ["3"]
    # Another node answering something post-shaped is not the WordPress node: ignored.
    other = copy.deepcopy(detail)
    post = other["data"]["resultData"]["runData"]["Publish on WordPress"][0]["data"]["main"][0][0]["json"]
    other["data"]["resultData"]["runData"]["Read the article"][0]["data"]["main"][0][0]["json"] = {**post, "id": 99}
    assert [p.post_id for p in _read(other).posts] == ["3"]


def test_a_failed_run_gives_n8ns_reason_and_the_step():
    run = _read(_load("wf3-failed.json"))
    assert run.execution.status == "error" and run.posts == ()
    assert run.failed_node == "Write the article"
    assert run.error == ('The resource you are requesting could not be found (The requested webhook '
                         '"POST llm/v1/chat/completions" is not registered.)')


def test_a_reason_never_carries_a_secret():
    detail = _load("wf3-failed.json")
    error = detail["data"]["resultData"]["error"]
    error["message"] = ("Authorization failed - please check your credentials: Bearer sk-live-AAAAbbbbCCCC1234 "
                        "refused for https://editor:s3cret-pass@blog.example/wp-json with api_key=abcd1234efgh")
    error["description"] = "Tenantry's own n8n key TENANTRY-KEY-0123456789 was quoted"
    run = _read(detail, redact=redactor(["TENANTRY-KEY-0123456789"]))
    for secret in ("sk-live-AAAAbbbbCCCC1234", "s3cret-pass", "abcd1234efgh", "TENANTRY-KEY-0123456789"):
        assert secret not in run.error
    assert run.error == ("Authorization failed - please check your credentials: Bearer *** refused for "
                         "https://***@blog.example/wp-json with api_key=*** (Tenantry's own n8n key *** was quoted)")
    assert len(clean_reason("x" * 2000, NO_SECRETS)) == 500


def test_a_cancelled_or_crashed_run_says_so():
    detail = _load("wf3-failed.json")
    del detail["data"]["resultData"]["error"]
    detail["status"] = "crashed"
    assert _read(detail).error == "n8n stopped during the run (it crashed or restarted)."
    detail["status"] = "canceled"
    assert _read(detail).error == "The run was cancelled."
