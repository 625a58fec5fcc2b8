"""The runtime interface: what Tenantry asks of whatever runs containers.

Inputs and outputs are frozen dataclasses, never model instances. Every method is idempotent:
calling it again after a crash half-way converges to the same result and never duplicates.
Backends raise only `BackendError` (permanent) and `TransientBackendError` (retry later).
"""

from __future__ import annotations

import abc
from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass, field


class BackendError(Exception):
    """A failure that retrying will not fix (bad image name, missing image, conflict…)."""

    code = "backend_error"

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class TransientBackendError(BackendError):
    """A failure that may go away (engine restarting, timeout, lock)."""

    code = "backend_unavailable"


@dataclass(frozen=True)
class ResourceLimits:
    memory_mb: int
    cpus: float
    pids: int


@dataclass(frozen=True)
class HealthProbe:
    """How to tell a container is ready: an HTTP probe from the control plane, or a command
    that the engine runs inside the container."""

    http_path: str | None = None
    http_port: int | None = None
    expect_status: tuple[int, ...] = (200,)
    expect_json_key: str | None = None
    command: tuple[str, ...] | None = field(default=None, repr=False)
    interval_seconds: float = 5
    timeout_seconds: float = 3
    retries: int = 3
    start_period_seconds: float = 0


@dataclass(frozen=True)
class VolumeMount:
    volume: str  # engine-level volume name
    path: str


@dataclass(frozen=True)
class TmpfsMount:
    """A size-limited in-memory directory (counted in the container's memory)."""

    path: str
    size_mb: int
    executable: bool = False


@dataclass(frozen=True)
class ContainerSpec:
    service: str
    name: str
    image: str
    ip: str
    limits: ResourceLimits
    command: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    environment: Mapping[str, str] = field(default_factory=dict, repr=False)
    mounts: tuple[VolumeMount, ...] = ()
    healthcheck: HealthProbe | None = None
    depends_on: tuple[str, ...] = ()
    user: str | None = None
    # Hardening: every capability is dropped and only these are added back; the root filesystem
    # is read-only when `read_only_root`, with `tmpfs` for the paths the app writes besides volumes.
    capabilities: tuple[str, ...] = ()
    read_only_root: bool = False
    tmpfs: tuple[TmpfsMount, ...] = ()


@dataclass(frozen=True)
class Deployment:
    """Everything the runtime needs to run one instance."""

    instance_id: str
    slug: str
    network: str
    subnet: str
    gateway: str
    volumes: tuple[str, ...]
    containers: tuple[ContainerSpec, ...]  # in start order
    entrypoint_service: str
    entrypoint_port: int
    labels: Mapping[str, str] = field(default_factory=dict)
    # What the instance may reach outside its network besides the internet: TCP ports of the
    # host's own services (on its gateway address) and the cloud metadata addresses.
    host_ports: tuple[int, ...] = ()
    cloud_metadata: bool = False
    # Of `volumes`, those holding only what the app rebuilds (not the customer's storage).
    cache_volumes: tuple[str, ...] = ()

    def container(self, service: str) -> ContainerSpec:
        for spec in self.containers:
            if spec.service == service:
                return spec
        raise KeyError(service)

    @property
    def upstream_url(self) -> str:
        return f"http://{self.container(self.entrypoint_service).ip}:{self.entrypoint_port}"


@dataclass(frozen=True)
class ContainerState:
    service: str
    name: str
    exists: bool
    running: bool
    health: str | None = None  # healthy / unhealthy / starting / None (no healthcheck)
    exit_code: int | None = None
    restart_count: int = 0


@dataclass(frozen=True)
class InstanceState:
    instance_id: str
    network_exists: bool
    volumes: tuple[str, ...]
    containers: tuple[ContainerState, ...]

    @property
    def all_running(self) -> bool:
        return bool(self.containers) and all(c.running for c in self.containers)

    @property
    def any_running(self) -> bool:
        return any(c.running for c in self.containers)


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    output: str = field(repr=False)


@dataclass(frozen=True)
class LogLine:
    """One line an app's container wrote (stdout or stderr), with the engine's timestamp."""

    service: str
    at_ns: int  # nanoseconds since the epoch, as the engine stamped the line
    text: str = field(repr=False)


# What one read of an app's logs returns at most: enough to read, never a whole log file.
MAX_LOG_LINES = 1000
MAX_LOG_LINE_CHARS = 4000


@dataclass(frozen=True)
class ContainerUsage:
    """A running container's cumulative CPU time (since it started) and memory in use."""

    instance_id: str
    container_id: str
    cpu_ns: int
    memory_bytes: int


@dataclass(frozen=True)
class ManagedResource:
    kind: str  # container / network / volume
    name: str
    instance_id: str


@dataclass(frozen=True)
class Observation:
    """What an engine holds of this installation, read at once: the reconciler's view of a whole
    server in a few calls instead of a few per instance."""

    containers: Mapping[str, ContainerState]  # by container name
    resources: tuple[ManagedResource, ...]  # every labelled container, network and volume


class RuntimeBackend(abc.ABC):
    """What Tenantry needs from a container runtime (Docker today; Swarm/Kubernetes later)."""

    def __init__(self, *, alias: str = "default", **options: object):
        self.alias = alias

    def ping(self) -> None:  # noqa: B027 - optional hook
        """Reach the runtime; raise BackendError when it does not answer. A process's first call
        to a runtime may do more (the Docker backend checks every network's firewall rules)."""

    # --- images ---------------------------------------------------------------------------------
    @abc.abstractmethod
    def missing_images(self, images: list[str]) -> list[str]:
        """The images of the list that this runtime cannot start (absent, no registry)."""

    @abc.abstractmethod
    def used_subnets(self) -> list[str]:
        """Every subnet a network on this runtime already uses, whoever made it."""

    # --- deploy ---------------------------------------------------------------------------------
    @abc.abstractmethod
    def ensure_network(self, deployment: Deployment) -> None:
        """Create the instance's private network with its allocated subnet."""

    @abc.abstractmethod
    def ensure_volumes(self, deployment: Deployment) -> None: ...

    @abc.abstractmethod
    def ensure_containers(self, deployment: Deployment) -> list[str]:
        """Create missing containers, replace ones whose configuration changed.
        Returns the names of containers created or replaced."""

    @abc.abstractmethod
    def start(self, deployment: Deployment, *, service: str | None = None) -> None:
        """Start containers (all, in order, or one service)."""

    @abc.abstractmethod
    def stop(self, instance_id: str, *, timeout: int = 10) -> None: ...

    @abc.abstractmethod
    def remove_containers(self, instance_id: str) -> list[str]: ...

    @abc.abstractmethod
    def remove_volumes(self, instance_id: str) -> list[str]: ...

    @abc.abstractmethod
    def remove_network(self, instance_id: str) -> list[str]: ...

    # --- observe --------------------------------------------------------------------------------
    @abc.abstractmethod
    def state(self, deployment: Deployment) -> InstanceState: ...

    @abc.abstractmethod
    def list_managed(self) -> list[ManagedResource]:
        """Every resource that carries this installation's labels."""

    @abc.abstractmethod
    def observe(self) -> Observation:
        """Every container's state and every managed resource of this installation, in a number
        of engine calls that does not grow with the number of instances."""

    @abc.abstractmethod
    def remove_resource(self, resource: ManagedResource) -> None: ...

    # Containers first: a network cannot go while containers are attached, nor a volume in use.
    REMOVAL_ORDER = {"container": 0, "network": 1, "volume": 2}

    def remove_resources(self, resources: list[ManagedResource]) -> list[ManagedResource]:
        """Remove resources in an order the engine accepts; returns them in that order."""
        ordered = sorted(resources, key=lambda r: self.REMOVAL_ORDER.get(r.kind, len(self.REMOVAL_ORDER)))
        for resource in ordered:
            self.remove_resource(resource)
        return ordered

    @abc.abstractmethod
    def exec(self, deployment: Deployment, service: str, command: list[str], *,
             timeout: float = 120) -> ExecResult: ...

    @abc.abstractmethod
    def logs(self, deployment: Deployment, service: str, *, tail: int = 100) -> str: ...

    def read_logs(self, deployment: Deployment, service: str, *, tail: int = 100,
                  after_ns: int | None = None) -> list[LogLine]:
        """A service's latest lines, oldest first: at most `tail` (capped at MAX_LOG_LINES), only
        those stamped after `after_ns` when given, each cut to MAX_LOG_LINE_CHARS. A container that
        does not exist (yet, or any more) has no lines."""
        raise BackendError(f"The {type(self).__name__} runtime does not read app logs.", code="unsupported")

    # --- volume backup / restore --------------------------------------------------------------
    @abc.abstractmethod
    def export_volume(self, deployment: Deployment, volume: str) -> Generator[bytes, None, None]:
        """Stream a tar archive of one of the deployment's volumes (members under `volume/`),
        read by a helper container that mounts it: nothing assumes where the engine keeps the
        data. The helper is removed when the iterator is exhausted or closed."""

    @abc.abstractmethod
    def import_volume(self, deployment: Deployment, volume: str, archive: Iterable[bytes]) -> None:
        """Replace the content of one of the deployment's volumes (which must exist) with a tar
        archive made by `export_volume`, streamed from `archive`. The app's containers should be stopped."""

    @abc.abstractmethod
    def run_in_volume(self, deployment: Deployment, volume: str, command: list[str], *,
                      timeout: float = 600) -> ExecResult:
        """Run `command` (with /bin/sh and coreutils-like tools at hand) in a helper container
        that mounts one of the deployment's volumes at /volume, e.g. to put a restored dump in
        place before the app starts. The helper is removed afterwards."""

    @abc.abstractmethod
    def inspect_limits(self, deployment: Deployment, service: str) -> ResourceLimits:
        """The limits the engine really applies to a service's container."""

    # --- measure (metering) ---------------------------------------------------------------------
    def volume_usage(self) -> dict[str, int]:
        """Bytes used by each instance's volumes: instance id -> bytes."""
        raise BackendError(f"The {type(self).__name__} runtime does not measure volumes.", code="unsupported")

    def container_usage(self) -> list[ContainerUsage]:
        """CPU time and memory of every running container of the installation."""
        raise BackendError(f"The {type(self).__name__} runtime does not measure containers.", code="unsupported")

    def close(self) -> None:  # noqa: B027 - optional hook
        pass
