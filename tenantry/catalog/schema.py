"""The app spec: what a catalog YAML file may say, validated with pydantic.

Unknown keys are errors (a typo must not silently drop a setting), and every error names the
field it is about, e.g. `services.web.resources.memory_mb`.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from tenantry.catalog.backup_spec import BackupSpec
from tenantry.catalog.hardening import ALLOWED_CAPABILITIES, NetworkAccess, Tmpfs
from tenantry.catalog.spec_base import NAME_PATTERN, Strict
from tenantry.catalog.templating import template_variables
from tenantry.catalog.versions import VERSION_PATTERN, AppVersion, check_versions

SECRET_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,40}$"


class HttpCheck(Strict):
    path: str = "/"
    port: int | None = Field(default=None, ge=1, le=65535)
    expect_status: list[int] = Field(default_factory=lambda: [200])
    # Ready only when the body is JSON holding this top-level key (apps that answer 200
    # with a "starting" page before they are really ready).
    expect_json_key: str | None = None

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with /")
        return value


class HealthCheck(Strict):
    http: HttpCheck | None = None
    command: list[str] | None = None
    interval_seconds: float = Field(default=5, gt=0, le=300)
    timeout_seconds: float = Field(default=3, gt=0, le=60)
    retries: int = Field(default=3, ge=1, le=100)
    start_period_seconds: float = Field(default=0, ge=0, le=3600)

    @model_validator(mode="after")
    def _one_kind(self) -> HealthCheck:
        if (self.http is None) == (self.command is None):
            raise ValueError("give exactly one of `http` or `command`")
        return self


class Resources(Strict):
    memory_mb: int = Field(default=128, ge=16, le=1024 * 1024)
    cpus: float = Field(default=0.5, gt=0, le=256)
    pids: int = Field(default=256, ge=16, le=1_000_000)


class VolumeMount(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    mount: str
    # What the app rebuilds by itself at start (compiled assets): on disk rather than in a tmpfs,
    # whose pages count against the container's memory and are never evicted, but neither backed
    # up (unless `backup.volumes` names it) nor billed as the customer's storage.
    cache: bool = False

    @field_validator("mount")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must be an absolute path in the container")
        return value


class Service(Strict):
    image: str = Field(min_length=1)
    command: list[str] | None = None
    entrypoint: list[str] | None = None
    environment: dict[str, str] = Field(default_factory=dict)
    volumes: list[VolumeMount] = Field(default_factory=list)
    healthcheck: HealthCheck | None = None
    depends_on: list[str] = Field(default_factory=list)
    resources: Resources = Field(default_factory=Resources)
    user: str | None = None
    # Every capability is dropped; these are added back (names without CAP_).
    capabilities: list[str] = Field(default_factory=list)
    # The image's filesystem is read-only; the app writes only to its volumes and `tmpfs`.
    read_only_root: bool = False
    tmpfs: list[Tmpfs] = Field(default_factory=list, max_length=16)

    @field_validator("capabilities")
    @classmethod
    def _capabilities(cls, value: list[str]) -> list[str]:
        names = sorted({name.upper().removeprefix("CAP_") for name in value})
        refused = [name for name in names if name not in ALLOWED_CAPABILITIES]
        if refused:
            raise ValueError(f"{', '.join(refused)} cannot be given to a tenant; "
                             f"allowed: {', '.join(sorted(ALLOWED_CAPABILITIES))}")
        return names

    @model_validator(mode="after")
    def _writable_paths(self) -> Service:
        paths = [m.mount.rstrip("/") for m in self.volumes] + [t.path.rstrip("/") for t in self.tmpfs]
        if len(set(paths)) != len(paths):
            raise ValueError("tmpfs: a path is mounted twice (as a volume or a tmpfs)")
        return self

    @field_validator("environment", mode="before")
    @classmethod
    def _stringify(cls, value: object) -> object:
        # YAML reads `PORT: 8080` as an int; the environment only holds strings.
        if isinstance(value, dict):
            return {str(k): "" if v is None else str(v).lower() if isinstance(v, bool) else str(v)
                    for k, v in value.items()}
        return value


class Entrypoint(Strict):
    service: str
    port: int = Field(ge=1, le=65535)


class SecretSpec(Strict):
    name: str = Field(pattern=SECRET_NAME_PATTERN)
    length: int = Field(default=32, ge=8, le=256)
    # "password": alphanumeric with at least one upper-case letter, one lower-case letter and one
    # digit, which is what apps with password rules (n8n, WordPress) accept.
    alphabet: Literal["alnum", "hex", "urlsafe", "fernet", "password"] = "alnum"


class InputSpec(Strict):
    """A value the customer types when creating the instance (an API key, a site URL, ...).

    Stored encrypted like the generated secrets; `secret` ones are never shown back.
    """

    name: str = Field(pattern=SECRET_NAME_PATTERN)
    label: str
    help: str = ""
    secret: bool = True
    required: bool = False
    kind: Literal["text", "url", "email"] = "text"
    # What hooks and templates see when the customer leaves it empty (the service's usual
    # address, say); never stored as if the customer had typed it.
    default: str = ""


class TemplateSet(Strict):
    """Content the app is seeded with (n8n workflows, ...): JSON files in `<app>.templates/`
    next to the spec in any catalog directory; operators add theirs in their own directory."""

    default: list[str] = Field(default_factory=list)


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


class AdminLogin(Strict):
    """How the customer logs in to the app itself (shown to them once)."""

    login: str
    password: str


class Automation(Strict):
    """The app runs workflows Tenantry can list and drive (tenantry.automations)."""

    backend: Literal["n8n"]
    api_key: str


class AppSpec(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    title: str
    description: str = ""
    version: str = Field(default="1", pattern=VERSION_PATTERN)
    # Other versions of the app and their images (tenantry/catalog/versions.py).
    versions: dict[str, AppVersion] = Field(default_factory=dict)
    entrypoint: Entrypoint
    services: dict[str, Service] = Field(min_length=1)
    secrets: list[SecretSpec] = Field(default_factory=list)
    inputs: list[InputSpec] = Field(default_factory=list)
    templates: TemplateSet = Field(default_factory=TemplateSet)
    hooks: Hooks = Field(default_factory=Hooks)
    admin: AdminLogin | None = None
    automation: Automation | None = None
    network: NetworkAccess = Field(default_factory=NetworkAccess)
    backup: BackupSpec = Field(default_factory=BackupSpec)
    # The app this one is a variant of (merged in by the registry; its templates apply too).
    extends: str | None = Field(default=None, pattern=NAME_PATTERN)

    @field_validator("services")
    @classmethod
    def _service_names(cls, value: dict[str, Service]) -> dict[str, Service]:
        for name in value:
            if not re.match(NAME_PATTERN, name):
                raise ValueError(f"service name {name!r} must match {NAME_PATTERN}")
        if len(value) > 24:
            raise ValueError("at most 24 services per app")
        return value

    @model_validator(mode="after")
    def _references(self) -> AppSpec:
        names = set(self.services)
        if self.entrypoint.service not in names:
            raise ValueError(f"entrypoint.service: unknown service {self.entrypoint.service!r}")
        for name, service in self.services.items():
            for dep in service.depends_on:
                if dep not in names:
                    raise ValueError(f"services.{name}.depends_on: unknown service {dep!r}")
        self.start_order()  # raises on cycles
        for name, service in self.services.items():
            check = service.healthcheck
            if check and check.http and check.http.port is None and name != self.entrypoint.service:
                raise ValueError(f"services.{name}.healthcheck.http.port: required outside the entrypoint service")
        for phase, hooks in self.hooks.phases():
            for hook in hooks:
                if hook.service and hook.service not in names:
                    raise ValueError(f"hooks.{phase}.{hook.name}.service: unknown service {hook.service!r}")
        check_versions(self.versions, names)
        secret_names = [s.name for s in self.secrets]
        if len(set(secret_names)) != len(secret_names):
            raise ValueError("secrets: names must be unique")
        input_names = [i.name for i in self.inputs]
        if len(set(input_names)) != len(input_names):
            raise ValueError("inputs: names must be unique")
        allowed = template_variables(secret_names=secret_names, service_names=sorted(names),
                                     input_names=input_names)
        for name, service in self.services.items():
            for key, text in service.environment.items():
                _check_template(f"services.{name}.environment.{key}", text, allowed)
            for index, arg in enumerate(service.command or []):
                _check_template(f"services.{name}.command.{index}", arg, allowed)
            if service.healthcheck and service.healthcheck.command:
                for index, arg in enumerate(service.healthcheck.command):
                    _check_template(f"services.{name}.healthcheck.command.{index}", arg, allowed)
        self.backup.check(services=names, volumes={m.name for s in self.services.values() for m in s.volumes},
                          check_template=lambda where, text: _check_template(where, text, allowed))
        _check_hooks("post_provision", self.hooks.post_provision, allowed, set(input_names), {})
        produced = allowed | _output_names(self.hooks.post_provision)
        if self.admin is not None:
            _check_template("admin.login", self.admin.login, produced)
            _check_template("admin.password", self.admin.password, produced)
        if self.automation is not None:
            _check_template("automation.api_key", self.automation.api_key, produced)
        # Later phases may use every output the first-start hooks captured.
        for phase in ("inputs_changed", "rotate_credentials"):
            _check_hooks(phase, getattr(self.hooks, phase), allowed, set(input_names),
                         _hook_outputs(self.hooks.post_provision))
        return self

    def backed_up_volumes(self) -> list[str]:
        """The volumes a backup holds: those `backup.volumes` names, else every one but caches."""
        return self.backup.volumes or sorted(
            {m.name for service in self.services.values() for m in service.volumes if not m.cache})

    def start_order(self) -> list[str]:
        """Services ordered so that each comes after what it depends on."""
        order: list[str] = []
        state: dict[str, str] = {}

        def visit(name: str, path: list[str]) -> None:
            if state.get(name) == "done":
                return
            if state.get(name) == "visiting":
                raise ValueError("services: dependency cycle " + " -> ".join([*path, name]))
            state[name] = "visiting"
            for dep in self.services[name].depends_on:
                visit(dep, [*path, name])
            state[name] = "done"
            order.append(name)

        for name in sorted(self.services):
            visit(name, [])
        return order

    def default_resources(self) -> Resources:
        total_memory = sum(s.resources.memory_mb for s in self.services.values())
        total_cpus = round(sum(s.resources.cpus for s in self.services.values()), 3)
        total_pids = sum(s.resources.pids for s in self.services.values())
        return Resources(memory_mb=total_memory, cpus=total_cpus, pids=total_pids)

    def images(self) -> list[str]:
        return sorted({s.image for s in self.services.values()})


def _output_names(hooks: list[Hook]) -> set[str]:
    return {f"outputs.{hook.name}.{name}" for hook in hooks if hook.http and not hook.for_each
            for name in hook.http.capture}


def _hook_outputs(hooks: list[Hook]) -> dict[str, Hook]:
    return {hook.name: hook for hook in hooks if hook.http and hook.http.capture}


def _check_hooks(phase: str, hooks: list[Hook], allowed: set[str], inputs: set[str],
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
            _check_template(f"{where}.exec.{index}", arg, names, open_prefixes)
        if hook.http is not None:
            _check_template(f"{where}.http.path", hook.http.path, names, open_prefixes)
            for key, value in hook.http.headers.items():
                _check_template(f"{where}.http.headers.{key}", value, names, open_prefixes)
            for path, text in _strings(hook.http.json_body, "http.json"):
                _check_template(f"{where}.{path}", text, names, open_prefixes)
            for path, text in _strings(hook.http.form, "http.form"):
                _check_template(f"{where}.{path}", text, names, open_prefixes)
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


def _check_template(where: str, text: str, allowed: set[str], open_prefixes: tuple[str, ...] = ()) -> None:
    from tenantry.catalog.templating import TemplateError, variables_in

    try:
        unknown = {name for name in variables_in(text) - allowed if not name.startswith(open_prefixes)}
    except TemplateError as exc:
        raise ValueError(f"{where}: {exc}") from exc
    if unknown:
        raise ValueError(f"{where}: unknown template variable(s) {', '.join(sorted(unknown))}")
