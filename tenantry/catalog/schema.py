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
from tenantry.catalog.hook_spec import Hooks, check_hooks, hook_outputs, output_names
from tenantry.catalog.spec_base import NAME_PATTERN, Strict, check_template
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
                check_template(f"services.{name}.environment.{key}", text, allowed)
            for index, arg in enumerate(service.command or []):
                check_template(f"services.{name}.command.{index}", arg, allowed)
            if service.healthcheck and service.healthcheck.command:
                for index, arg in enumerate(service.healthcheck.command):
                    check_template(f"services.{name}.healthcheck.command.{index}", arg, allowed)
        self.backup.check(services=names, volumes={m.name for s in self.services.values() for m in s.volumes},
                          check_template=lambda where, text: check_template(where, text, allowed))
        check_hooks("post_provision", self.hooks.post_provision, allowed, set(input_names), {})
        produced = allowed | output_names(self.hooks.post_provision)
        if self.admin is not None:
            check_template("admin.login", self.admin.login, produced)
            check_template("admin.password", self.admin.password, produced)
        if self.automation is not None:
            check_template("automation.api_key", self.automation.api_key, produced)
        # Later phases may use every output the first-start hooks captured.
        for phase in ("inputs_changed", "rotate_credentials"):
            check_hooks(phase, getattr(self.hooks, phase), allowed, set(input_names),
                         hook_outputs(self.hooks.post_provision))
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
