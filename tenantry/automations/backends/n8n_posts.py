"""What an n8n execution published on WordPress, read from the execution's data (the public
API's `GET /executions/{id}?includeData=true`): the WordPress node's output items are the posts
as the site's REST API answered them (id, link, title, status, date_gmt), and a failed run
carries n8n's own error (message, description, the node it stopped at).

Pure functions on the JSON, so they are tested on executions captured from a real n8n
(tests/automations/fixtures/).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from tenantry.automations.backends.base import Execution, PublishedPost, PublishRun

WORDPRESS_NODE = "n8n-nodes-base.wordpress"
# Runs still going (or queued) are read again on a later pass; every other status is final.
UNFINISHED = frozenset({"new", "running", "waiting", "unknown"})
REASON_CHARS = 500

# Credentials an error message may quote besides the ones Tenantry holds (which the backend's
# redactor replaces): a bearer token, an OpenAI-style key, a password in a URL.
_LEAKS = (
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 ***"),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"), "sk-***"),
    (re.compile(r"(?i)\b(https?://)[^/\s:@]+:[^/\s@]+@"), r"\1***@"),
    (re.compile(r"(?i)\b(api[_-]?key|password|token|secret)(\"?\s*[:=]\s*\"?)[^\s\",}]{4,}"), r"\1\2***"),
)


def publish_run(execution: Execution, detail: dict[str, Any], *, redact: Callable[[str], str]) -> PublishRun:
    """The posts an execution published and, when it did not succeed, why (cleaned of secrets)."""
    result = (detail.get("data") or {}).get("resultData") or {}
    posts = tuple(_posts(result.get("runData") or {}, _post_nodes(detail)))
    if execution.status == "success":
        return PublishRun(execution=execution, posts=posts)
    error = result.get("error") or {}
    failed_node = ((error.get("node") or {}).get("name") or result.get("lastNodeExecuted") or "") \
        if isinstance(error, dict) else ""
    return PublishRun(execution=execution, posts=posts, error=_reason(error, execution.status, redact),
                      failed_node=str(failed_node)[:200])


def _post_nodes(detail: dict[str, Any]) -> set[str] | None:
    """The names of the run's WordPress nodes, when the execution carries its workflow (it
    does: n8n stores the workflow as it ran with the execution); None when it does not."""
    nodes = (detail.get("workflowData") or {}).get("nodes")
    if not isinstance(nodes, list):
        return None
    return {str(n.get("name")) for n in nodes if isinstance(n, dict) and n.get("type") == WORDPRESS_NODE}


def _posts(run_data: dict[str, Any], post_nodes: set[str] | None) -> Iterator[PublishedPost]:
    seen: set[str] = set()
    for node, runs in run_data.items():
        if post_nodes is not None and node not in post_nodes:
            continue
        for run in runs or []:
            for branch in ((run or {}).get("data") or {}).get("main") or []:
                for item in branch or []:
                    post = _post((item or {}).get("json"))
                    if post is not None and post.post_id not in seen:
                        seen.add(post.post_id)
                        yield post


def _post(item: Any) -> PublishedPost | None:
    """A WordPress post as its REST API answers (`/wp/v2/posts`): anything else (a page of
    rows, a deleted post's `{"deleted": true}`) is not one."""
    if not isinstance(item, dict) or not isinstance(item.get("id"), int) or not isinstance(item.get("link"), str):
        return None
    if item.get("type", "post") != "post":
        return None
    title = item.get("title")
    if isinstance(title, dict):
        # `raw` is what was sent (in edit context); `rendered` is HTML with entities.
        title = title.get("raw") if isinstance(title.get("raw"), str) else html.unescape(title.get("rendered") or "")
    return PublishedPost(post_id=str(item["id"]), title=str(title or "")[:500], url=item["link"][:1000],
                         status=str(item.get("status") or "")[:20], published_at=_gmt(item.get("date_gmt")))


def _gmt(value: Any) -> datetime | None:
    """WordPress's `date_gmt` is UTC without an offset; `date` is the site's local time (its
    zone unknown here), so only the former is used."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _reason(error: Any, status: str, redact: Callable[[str], str]) -> str:
    if not isinstance(error, dict) or not (error.get("message") or error.get("description")):
        return {"canceled": "The run was cancelled.",
                "crashed": "n8n stopped during the run (it crashed or restarted)."}.get(
            status, f"The run ended with status {status!r} without an error message.")
    message = str(error.get("message") or "").strip()
    description = str(error.get("description") or "").strip()
    if description and description not in message:
        message = f"{message} ({description})" if message else description
    return clean_reason(message, redact)


def clean_reason(text: str, redact: Callable[[str], str]) -> str:
    """An error message fit to show the customer: Tenantry's secrets and anything that looks
    like a credential replaced by ***, cut to a readable length."""
    text = redact(" ".join(text.split()))
    for pattern, replacement in _LEAKS:
        text = pattern.sub(replacement, text)
    return text if len(text) <= REASON_CHARS else f"{text[:REASON_CHARS - 1]}…"
