"""The hooks of an app spec: HTTP calls and commands Tenantry runs at points of an instance's life
(first start, inputs changed, credentials rotated), and the load-time check that each one names
only what exists when it runs (tenantry.instances.hooks runs them)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from tenantry.catalog.spec_base import NAME_PATTERN, Strict, check_template


class HttpHook(Strict):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    path: str
    # Strings anywhere in the body are templates; a string that is exactly one `{{ name }}`
    # is replaced by the value itself (a list, an object), not by its text.
    json_body: dict | list | str | None = Field(default=None, alias="json")
    # A form instead (application/x-www-form-urlencoded): what PHP apps read from their POST data.
    form: dict[str, str] | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    expect_status: list[int] = Field(default_factory=lambda: [200, 201, 204])
    # What to keep from the JSON answer: output name -> dotted path ("" = the whole body).
    # Outputs are stored encrypted and available to later hooks as `outputs.<hook>.<name>`.
    capture: dict[str, str] = Field(default_factory=dict)
    # Captured values are kept out of logs unless the spec says they are not secret (ids, names).
    sensitive: bool = True
    # How the answer is read for `capture`: JSON (dotted paths), or plain text (the path "" is
    # the whole body, stripped) for apps that answer a token as text.
    answer: Literal["json", "text"] = "json"

    @model_validator(mode="after")
    def _one_body(self) -> HttpHook:
        if self.json_body is not None and self.form is not None:
            raise ValueError("give at most one of `json` or `form`")
        if self.answer == "text" and any(path for path in self.capture.values()):
            raise ValueError("capture: a text answer is captured whole (path \"\")")
        return self


class Hook(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    service: str | None = None
    exec: list[str] | None = None
    http: HttpHook | None = None
    timeout_seconds: float = Field(default=120, gt=0, le=3600)
    # Run once per item of a list: `templates` (the instance's selected templates, as `item.name`
    # and `item.body`) or `outputs.<earlier for_each hook>` (its captures, as `item.<name>`).
    for_each: str | None = None
    # Skipped unless the customer gave these inputs (optional integrations).
    when_inputs: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_kind(self) -> Hook:
        if (self.exec is None) == (self.http is None):
            raise ValueError("give exactly one of `exec` or `http`")
        if self.exec is not None and not self.service:
            raise ValueError("an `exec` hook names the `service` it runs in")
        return self


class Hooks(Strict):
    post_provision: list[Hook] = Field(default_factory=list)
    # Run when the customer changes their inputs (their external credentials) on a running instance.
    inputs_changed: list[Hook] = Field(default_factory=list)
    # Run to replace the credentials Tenantry holds for the app (its API key).
    rotate_credentials: list[Hook] = Field(default_factory=list)

    def phases(self) -> list[tuple[str, list[Hook]]]:
        return [("post_provision", self.post_provision), ("inputs_changed", self.inputs_changed),
                ("rotate_credentials", self.rotate_credentials)]


def output_names(hooks: list[Hook]) -> set[str]:
    return {f"outputs.{hook.name}.{name}" for hook in hooks if hook.http and not hook.for_each
            for name in hook.http.capture}


def hook_outputs(hooks: list[Hook]) -> dict[str, Hook]:
    return {hook.name: hook for hook in hooks if hook.http and hook.http.capture}


def check_hooks(phase: str, hooks: list[Hook], allowed: set[str], inputs: set[str],
                 earlier: dict[str, Hook]) -> None:
    """Hooks may only name what exists when they run: outputs of hooks before them, declared inputs."""
    earlier = dict(earlier)
    seen: set[str] = set()
    for hook in hooks:
        where = f"hooks.{phase}.{hook.name}"
        if hook.name in seen:
            raise ValueError(f"{where}: hook names must be unique")
        seen.add(hook.name)
        for name in hook.when_inputs:
            if name not in inputs:
                raise ValueError(f"{where}.when_inputs: unknown input {name!r}")
        names = set(allowed)
        for producer in earlier.values():
            prefix = f"outputs.{producer.name}"
            names |= {prefix} if producer.for_each else {f"{prefix}.{c}" for c in producer.http.capture}  # type: ignore[union-attr]
        open_prefixes: tuple[str, ...] = ()
        if hook.for_each is not None:
            source = hook.for_each
            parts = source.split(".")
            producer_hook = earlier.get(parts[1]) if len(parts) > 1 and parts[0] == "outputs" else None
            if source == "templates":
                names |= {"item.name", "item.body"}
            elif producer_hook is not None and len(parts) == 2 and producer_hook.for_each:
                names |= {f"item.{c}" for c in producer_hook.http.capture}  # type: ignore[union-attr]
            elif producer_hook is not None and len(parts) == 3 and parts[2] in producer_hook.http.capture:  # type: ignore[union-attr]
                open_prefixes = ("item.",)  # items of a captured list: their keys are the app's
            else:
                raise ValueError(f"{where}.for_each: must be `templates`, `outputs.<an earlier for_each hook>` "
                                 "or `outputs.<hook>.<captured list>`")
        for index, arg in enumerate(hook.exec or []):
            check_template(f"{where}.exec.{index}", arg, names, open_prefixes)
        if hook.http is not None:
            check_template(f"{where}.http.path", hook.http.path, names, open_prefixes)
            for key, value in hook.http.headers.items():
                check_template(f"{where}.http.headers.{key}", value, names, open_prefixes)
            for path, text in _strings(hook.http.json_body, "http.json"):
                check_template(f"{where}.{path}", text, names, open_prefixes)
            for path, text in _strings(hook.http.form, "http.form"):
                check_template(f"{where}.{path}", text, names, open_prefixes)
            if hook.http.capture:
                earlier[hook.name] = hook


def _strings(value: object, path: str):
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}.{index}")
