"""App hooks: the commands and HTTP calls an app spec asks for at given moments of an instance's
life (first start, the customer's inputs changed, credential rotation).

Hooks are the general mechanism by which an app is set up without a person: create the admin
user, make an API key, import content. What they capture (`capture:`) is stored encrypted and
usable by later hooks as `outputs.<hook>.<name>`; HTTP hooks of one run share a cookie jar (an
app's login session), kept encrypted too so a resumed operation carries on where it stopped.
A hook that already ran in an operation is never run twice (progress is in `operation.state`).
"""

from __future__ import annotations

import json
from typing import Any

import requests

from tenantry.catalog.hook_spec import Hook
from tenantry.catalog.registry import app_templates
from tenantry.catalog.templating import TemplateError, render, render_json
from tenantry.instances.deployment import template_context
from tenantry.instances.secrets import (
    HOOK_SESSION,
    forget_value,
    instance_values,
    load_value,
    store_output,
    store_value,
)
from tenantry.instances.tenant_http import app_message, quoted, tenant_session
from tenantry.runtime.backends.base import BackendError

LOG_TAIL_LINES = 20


class HookRunner:
    def __init__(self, ctx: Any, *, phase: str):
        self.ctx = ctx
        self.phase = phase
        self.state_key = f"hooks_done:{phase}"
        self.session = tenant_session()  # never follows the app's redirects
        saved = load_value(ctx.instance, HOOK_SESSION)
        if saved:
            self.session.cookies.update(json.loads(saved))

    # --- running ---------------------------------------------------------------------------
    def run(self, hooks: list[Hook]) -> None:
        done: list[str] = list(self.ctx.operation.state.get(self.state_key, []))
        for hook in hooks:
            if hook.name in done:
                continue
            # Read afresh for each hook: the ones before it may have stored outputs.
            context = hook_context(self.ctx.instance, self.ctx.spec)
            missing = [name for name in hook.when_inputs if not context["inputs"].get(name)]
            if missing:
                self.ctx.log(f"hook {hook.name} skipped (no {', '.join(missing)} given)")
            elif hook.for_each is not None:
                self._run_each(hook, context)
            else:
                self.ctx.log(f"hook {hook.name}")
                captured = self._run_once(hook, context)
                if hook.http is not None and hook.http.capture:
                    store_output(self.ctx.instance, hook.name, captured, sensitive=hook.http.sensitive)
                    self.ctx.secrets_changed()
            done.append(hook.name)
            self._save_progress(done)
        forget_value(self.ctx.instance, HOOK_SESSION)

    def _run_each(self, hook: Hook, context: dict[str, Any]) -> None:
        items = self._items(hook, context)
        # Resumed after a crash: the items whose captures are stored are done.
        previous = context["outputs"].get(hook.name)
        captured: list[Any] = list(previous) if isinstance(previous, list) else []
        self.ctx.log(f"hook {hook.name}: {len(items)} item(s)")
        for index, item in enumerate(items):
            if index < len(captured):
                continue
            label = item.get("name") or item.get("id") or index + 1 if isinstance(item, dict) else index + 1
            self.ctx.log(f"hook {hook.name}: {label}")
            captured.append(self._run_once(hook, {**context, "item": item}))
            if hook.http is not None:
                store_output(self.ctx.instance, hook.name, captured, sensitive=hook.http.sensitive)
                self.ctx.secrets_changed()

    def _items(self, hook: Hook, context: dict[str, Any]) -> list[Any]:
        assert hook.for_each is not None
        if hook.for_each == "templates":
            available = app_templates(self.ctx.spec.name)
            chosen = (self.ctx.instance.options or {}).get("templates", self.ctx.spec.templates.default)
            try:
                return [{"name": name, "body": render_json(available[name], context, lenient=True)} for name in chosen]
            except KeyError as exc:
                raise BackendError(f"hook {hook.name}: unknown template {exc.args[0]!r}", code="hook_failed") from exc
            except TemplateError as exc:
                raise BackendError(f"hook {hook.name}: a template is invalid: {exc}", code="hook_failed") from exc
        value = _dig(context, hook.for_each)
        if not isinstance(value, list):
            raise BackendError(f"hook {hook.name}: {hook.for_each} is not a list", code="hook_failed")
        return value

    def _run_once(self, hook: Hook, context: dict[str, Any]) -> Any:
        try:
            if hook.exec is not None:
                self._exec(hook, [render(arg, context) for arg in hook.exec])
                return None
            return self._http(hook, context)
        except TemplateError as exc:
            raise BackendError(f"hook {hook.name}: {exc}", code="hook_failed") from exc

    def _exec(self, hook: Hook, command: list[str]) -> None:
        assert hook.service is not None
        result = self.ctx.runtime.exec(self.ctx.deployment, hook.service, command, timeout=hook.timeout_seconds)
        if result.exit_code != 0:
            tail = "\n".join(result.output.strip().splitlines()[-LOG_TAIL_LINES:])
            raise BackendError(f"hook {hook.name} failed (exit code {result.exit_code}):\n"
                               f"{quoted(tail, redact=self.ctx.redact, limit=2000)}", code="hook_failed")

    def _http(self, hook: Hook, context: dict[str, Any]) -> Any:
        http = hook.http
        assert http is not None
        path = render(http.path, context)
        body = render_json(http.json_body, context) if http.json_body is not None else None
        form = {key: render(value, context) for key, value in http.form.items()} if http.form is not None else None
        headers = {key: render(value, context) for key, value in http.headers.items()}
        try:
            response = self.session.request(http.method, f"{self.ctx.deployment.upstream_url}{path}", json=body,
                                            data=form, headers=headers, timeout=hook.timeout_seconds)
        except requests.RequestException as exc:
            raise BackendError(f"hook {hook.name}: {exc.__class__.__name__} calling {http.method} {path}",
                               code="hook_failed") from exc
        if self.session.cookies:
            store_value(self.ctx.instance, HOOK_SESSION, json.dumps(self.session.cookies.get_dict()))
        if response.status_code not in http.expect_status:
            raise BackendError(f"hook {hook.name}: {http.method} {path} answered HTTP {response.status_code}: "
                               f"{app_message(response, redact=self.ctx.redact)}", code="hook_failed")
        if not http.capture:
            return None
        if http.answer == "text":
            return {name: response.text.strip() for name in http.capture}
        try:
            document = response.json()
        except ValueError as exc:
            raise BackendError(f"hook {hook.name}: {http.method} {path} did not answer JSON",
                               code="hook_failed") from exc
        captured = {}
        for name, where in http.capture.items():
            try:
                captured[name] = _dig(document, where)
            except KeyError as exc:
                raise BackendError(f"hook {hook.name}: the answer has no {where!r}", code="hook_failed") from exc
        return captured

    def _save_progress(self, done: list[str]) -> None:
        self.ctx.save_state(**{self.state_key: done})


def hook_context(instance: Any, spec: Any) -> dict[str, Any]:
    """Everything a hook (or a value derived from hooks, like an app's API key) may name."""
    secrets, inputs, outputs = instance_values(instance)  # one read, one decryption pass
    defaults = {i.name: i.default for i in spec.inputs if i.default}
    return {**template_context(instance, spec, secrets=secrets), "inputs": {**defaults, **inputs},
            "outputs": outputs}


def _dig(document: Any, path: str) -> Any:
    value = document
    for part in [p for p in path.split(".") if p]:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise KeyError(path)
    return value
