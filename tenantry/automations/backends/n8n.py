"""n8n through its public REST API (`X-N8N-API-KEY`), and its internal API for the one thing the
public API lacks: running a workflow by hand (as the editor's "Execute workflow" button does)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import requests

from tenantry.automations.backends.base import (
    AutomationBackend,
    AutomationTarget,
    Execution,
    PublishRun,
    RunResult,
    Schedule,
    Workflow,
)
from tenantry.automations.backends.n8n_posts import UNFINISHED, publish_run
from tenantry.automations.backends.n8n_schedules import node_expressions, workflow_zone
from tenantry.instances.tenant_http import TenantSession, app_message, redactor, tenant_session
from tenantry.runtime.backends.base import BackendError, TransientBackendError

TIMEOUT = 15
WEBHOOK_NODE = "n8n-nodes-base.webhook"


class N8nBackend(AutomationBackend):
    def __init__(self, target: AutomationTarget):
        super().__init__(target)
        self._session = tenant_session()  # API-key calls; never follows the app's redirects
        self._redact = redactor([target.api_key, target.admin_password, *target.secrets])

    def _request(self, method: str, path: str, *, session: TenantSession | None = None,
                 **kwargs: Any) -> Any:
        headers = kwargs.pop("headers", {})
        if session is None:
            headers["X-N8N-API-KEY"] = self.target.api_key
        try:
            response = (session or self._session).request(method, f"{self.target.base_url}{path}",
                                                          headers=headers, timeout=TIMEOUT, **kwargs)
        except requests.ConnectionError as exc:
            raise TransientBackendError("n8n does not answer (is the instance running?)", code="app_unreachable") \
                from exc
        except requests.RequestException as exc:
            raise TransientBackendError(f"n8n did not answer in time ({exc.__class__.__name__})",
                                        code="app_unreachable") from exc
        if response.status_code == 401:
            raise BackendError("n8n refused Tenantry's API key (rotate it to make a new one)", code="app_unauthorized")
        if response.status_code == 404:
            raise BackendError(f"n8n: {app_message(response, redact=self._redact)}", code="not_found")
        if response.status_code >= 300:
            raise BackendError(f"n8n answered HTTP {response.status_code}: "
                               f"{app_message(response, redact=self._redact)}", code="app_error")
        if not response.content:
            return {}
        try:
            return response.json()
        except ValueError as exc:
            raise BackendError(f"n8n did not answer JSON for {method} {path}", code="app_error") from exc

    def _paged(self, path: str, *, limit: int, pages: int) -> list[dict]:
        items: list[dict] = []
        cursor = None
        for _ in range(pages):
            params: dict[str, Any] = {"limit": limit}
            if cursor:
                params["cursor"] = cursor
            page = self._request("GET", path, params=params)
            items.extend(page.get("data", []))
            cursor = page.get("nextCursor")
            if not cursor:
                break
        return items

    def workflows(self) -> list[Workflow]:
        return [_workflow(item) for item in self._paged("/api/v1/workflows", limit=250, pages=4)]

    def set_active(self, workflow_id: str, active: bool) -> Workflow:
        action = "activate" if active else "deactivate"
        return _workflow(self._request("POST", f"/api/v1/workflows/{workflow_id}/{action}"))

    def run_now(self, workflow_id: str) -> RunResult:
        workflow = self._request("GET", f"/api/v1/workflows/{workflow_id}")
        webhook = next((n for n in workflow.get("nodes", []) if n.get("type") == WEBHOOK_NODE), None)
        if webhook is not None and workflow.get("active"):
            # A webhook workflow runs as its callers run it: one request to its production URL.
            parameters = webhook.get("parameters", {})
            method = parameters.get("httpMethod", "GET")
            path = f"/webhook/{parameters.get('path', '')}"
            try:
                self._session.request(method, f"{self.target.base_url}{path}", json={}, timeout=TIMEOUT)
            except requests.RequestException as exc:
                raise TransientBackendError(f"n8n did not answer the webhook call ({exc.__class__.__name__})",
                                            code="app_unreachable") from exc
            return RunResult(execution_id=None, how=f"called its webhook ({method} {path})")
        trigger = next((n for n in workflow.get("nodes", []) if _is_trigger(n)), None)
        session = self._login()
        body: dict[str, Any] = {"workflowData": workflow}
        if trigger is not None:
            body["triggerToStartFrom"] = {"name": trigger["name"]}
        answer = self._request("POST", f"/rest/workflows/{workflow_id}/run", session=session, json=body)
        data = answer.get("data", {})
        if data.get("waitingForWebhook"):
            raise BackendError("n8n waits for a test webhook call: activate the workflow and call its webhook",
                               code="app_error")
        return RunResult(execution_id=str(data.get("executionId") or "") or None, how="ran it by hand")

    def _login(self) -> TenantSession:
        if not self.target.admin_login:
            raise BackendError("Tenantry has no owner login for this n8n", code="app_unauthorized")
        session = tenant_session()
        self._request("POST", "/rest/login", session=session,
                      json={"emailOrLdapLoginId": self.target.admin_login, "password": self.target.admin_password})
        return session

    def login_cookies(self) -> dict[str, str]:
        # A server-side login carries no browser id, and n8n accepts such a session from any
        # browser (it binds it to the browser's id when it next renews the cookie).
        return self._login().cookies.get_dict()

    def replace_workflow(self, workflow_id: str, body: dict) -> tuple[dict, Workflow]:
        current = self._request("GET", f"/api/v1/workflows/{workflow_id}")
        previous = _definition(current)
        nodes = [dict(node) for node in body.get("nodes", [])]
        _keep_credentials(nodes, current.get("nodes", []))
        was_active = bool(current.get("active"))
        if was_active:  # its webhooks and triggers are registered again from the new nodes
            self._request("POST", f"/api/v1/workflows/{workflow_id}/deactivate")
        updated = self._request("PUT", f"/api/v1/workflows/{workflow_id}",
                                json=_definition({**body, "nodes": nodes}))
        if was_active:
            updated = self._request("POST", f"/api/v1/workflows/{workflow_id}/activate")
        return previous, _workflow(updated)
    def schedules(self) -> list[Schedule]:
        # The zone n8n runs in (GENERIC_TIMEZONE), as it tells its signed-in editor (the settings
        # it shows before sign-in leave it out).
        answer = self._request("GET", "/rest/settings", session=self._login())
        instance_zone = (answer.get("data") or {}).get("timezone") or "UTC"
        found = []
        for item in self._paged("/api/v1/workflows", limit=250, pages=4):
            if not item.get("active"):
                continue
            for node in item.get("nodes", []):
                expressions = node_expressions(node)
                if expressions:
                    found.append(Schedule(workflow_id=str(item["id"]), workflow_name=item.get("name", ""),
                                          node=node.get("name", ""), expressions=expressions,
                                          time_zone=workflow_zone(item, instance_zone)))
        return found

    def executions(self, *, limit: int = 100, pages: int = 5) -> list[Execution]:
        return [_execution(item) for item in self._paged("/api/v1/executions", limit=limit, pages=pages)]

    def publish_runs(self, workflow_id: str, *, known: frozenset[str], limit: int = 50) -> list[PublishRun]:
        # The list is cheap (no data); only a run not read before is fetched with its data
        # (an article's HTML is in it), one at a time.
        page = self._request("GET", "/api/v1/executions", params={"workflowId": workflow_id, "limit": limit})
        runs = []
        for item in page.get("data", []):
            execution = _execution(item)
            if execution.id in known or execution.status in UNFINISHED:
                continue
            detail = self._request("GET", f"/api/v1/executions/{execution.id}", params={"includeData": "true"})
            runs.append(publish_run(execution, detail, redact=self._redact))
        return runs


# What n8n's public API accepts when a workflow is written (its answers hold more: ids, dates…).
_DEFINITION_KEYS = ("name", "nodes", "connections", "settings")
_SETTINGS_KEYS = ("executionOrder", "saveExecutionProgress", "saveManualExecutions", "saveDataErrorExecution",
                  "saveDataSuccessExecution", "executionTimeout", "errorWorkflow", "timezone", "callerPolicy")


def _definition(workflow: dict) -> dict:
    definition = {key: workflow[key] for key in _DEFINITION_KEYS if key in workflow}
    definition["settings"] = {k: v for k, v in (workflow.get("settings") or {}).items() if k in _SETTINGS_KEYS}
    return definition


def _keep_credentials(nodes: list[dict], current: list[dict]) -> None:
    """The customer chose (or Tenantry filled) the credentials of the running workflow's nodes:
    a new version's node keeps them, matched by name, else by type when only one node has it."""
    by_name = {n.get("name"): n["credentials"] for n in current if n.get("credentials")}
    types = [n.get("type") for n in current if n.get("credentials")]
    by_type = {n.get("type"): n["credentials"] for n in current
               if n.get("credentials") and types.count(n.get("type")) == 1}
    for node in nodes:
        if node.get("credentials"):
            continue
        kept = by_name.get(node.get("name")) or by_type.get(node.get("type"))
        if kept:
            node["credentials"] = kept


def _is_trigger(node: dict) -> bool:
    kind = node.get("type", "")
    return kind.endswith("Trigger") or kind == WEBHOOK_NODE


def _trigger_label(node: dict) -> str:
    if node.get("type") == WEBHOOK_NODE:
        parameters = node.get("parameters", {})
        return f"webhook {parameters.get('httpMethod', 'GET')} /webhook/{parameters.get('path', '')}"
    return node.get("name", node.get("type", "trigger"))


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _workflow(item: dict) -> Workflow:
    return Workflow(id=str(item["id"]), name=item.get("name", ""), active=bool(item.get("active")),
                    triggers=tuple(_trigger_label(n) for n in item.get("nodes", []) if _is_trigger(n)),
                    updated_at=_time(item.get("updatedAt")))


def _execution(item: dict) -> Execution:
    return Execution(id=str(item["id"]), workflow_id=str(item.get("workflowId") or ""),
                     status=item.get("status") or ("success" if item.get("finished") else "running"),
                     mode=item.get("mode", ""), started_at=_time(item.get("startedAt")),
                     stopped_at=_time(item.get("stoppedAt")))
