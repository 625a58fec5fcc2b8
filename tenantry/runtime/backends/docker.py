"""Docker Engine runtime, through the docker SDK (one engine: unix socket, tcp+TLS or ssh).

Each instance gets a user-defined bridge network on a subnet allocated by Tenantry (Docker's
default address pools run out after ~30 networks), static container addresses inside it (so
the proxy's upstream never changes across restarts), named volumes, and containers with
`init=True` (a fast, clean stop) and memory / CPU / pids limits. Docker isolates user-defined
bridges from each other, so one instance cannot reach another's containers; containers and
networks are confined further by docker_confinement (capabilities, read-only root, host firewall).
Networks, their firewall and the image check live in docker_networks.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import docker
import docker.errors
from docker.types import LogConfig

from tenantry.core.logging import get_logger
from tenantry.runtime.backends.base import (
    BackendError,
    ContainerSpec,
    Deployment,
    ManagedResource,
    RuntimeBackend,
)
from tenantry.runtime.backends.docker_confinement import IptablesFirewall
from tenantry.runtime.backends.docker_container_confinement import container_options
from tenantry.runtime.backends.docker_errors import ignore_not_found, missing_image_message, translate_errors
from tenantry.runtime.backends.docker_image_users import DockerImageUsers
from tenantry.runtime.backends.docker_networks import DockerNetworks
from tenantry.runtime.backends.docker_observe import (
    LABEL_CACHE,
    LABEL_INSTALLATION,
    LABEL_INSTANCE,
    LABEL_SERVICE,
    DockerObservation,
)
from tenantry.runtime.backends.docker_usage import DockerUsage
from tenantry.runtime.backends.docker_volumes import DockerVolumeArchive

LABEL_CONFIG = "tenantry.config"

T = TypeVar("T")
log = get_logger(__name__)


class DockerRuntime(DockerObservation, DockerUsage, DockerVolumeArchive, DockerImageUsers, DockerNetworks,
                    RuntimeBackend):
    def __init__(self, *, alias: str = "default", base_url: str = "unix:///var/run/docker.sock",
                 installation_id: str | None = None, timeout: int = 60, firewall: str = "iptables",
                 helper_image: str | None = None, volume_transfer: str = "auto", pipe_dir: str | None = None,
                 pipe_dir_on_engine: str | None = None, **options: object):
        super().__init__(alias=alias)
        self.base_url = base_url
        self.timeout = timeout
        if installation_id is None:
            from django.conf import settings

            installation_id = settings.TENANTRY["INSTALLATION_ID"]
        self.installation_id = installation_id
        if helper_image is None:
            from django.conf import settings

            helper_image = settings.TENANTRY["BACKUP_HELPER_IMAGE"]
        # Any image with /bin/sh and rm: it mounts a volume to stream it out or in (docker_volumes).
        self.helper_image = helper_image
        # How a restore's tar reaches the helper: a FIFO shared with a local engine, or the
        # engine's attach socket (docker_volumes).
        self._configure_volume_transfer(volume_transfer, pipe_dir, pipe_dir_on_engine)
        self._client: docker.DockerClient | None = None
        self._client_lock = threading.Lock()
        # Host rules can only be written on the host: for a remote engine the operator installs
        # the equivalent there (and sets `firewall: "off"` to say so).
        if firewall not in ("iptables", "off"):
            raise BackendError(f"unknown firewall {firewall!r} (iptables or off)", code="bad_config")
        if firewall == "iptables" and not base_url.startswith("unix://"):
            raise BackendError("the iptables firewall needs a local Docker engine (unix socket); "
                               "confine the remote host yourself and set firewall to off", code="bad_config")
        from django.conf import settings as django_settings

        self.firewall = IptablesFirewall(
            installation_id=installation_id, engine_socket=base_url.removeprefix("unix://"),
            pool=django_settings.TENANTRY["SUBNET_POOL"]) if firewall == "iptables" else None
        self._firewall_synced = False
        self._user_ids_cache: dict[tuple[str, str], tuple[int, int] | None] = {}
        self._images_seen: dict[str, float] = {}

        self.cgroup_root = Path(django_settings.TENANTRY.get("METERING_CGROUP_ROOT", "/sys/fs/cgroup"))

    # --- plumbing -------------------------------------------------------------------------------
    @property
    def client(self) -> docker.DockerClient:
        with self._client_lock:
            if self._client is None:
                with translate_errors("connect to the Docker engine"):
                    self._client = docker.DockerClient(base_url=self.base_url, timeout=self.timeout)
            client = self._client
        if not self._firewall_synced:
            self._firewall_synced = True
            self.sync_firewall()
        return client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def ping(self) -> None:
        with translate_errors("reach the Docker engine"):
            self.client.ping()

    def _labels(self, deployment: Deployment, **extra: str) -> dict[str, str]:
        return {
            **deployment.labels,
            LABEL_INSTALLATION: self.installation_id,
            LABEL_INSTANCE: deployment.instance_id,
            **extra,
        }

    def _check_owner(self, kind: str, name: str, labels: dict[str, str] | None, instance_id: str) -> bool:
        """True when an existing resource is this instance's; raise when it is someone else's."""
        labels = labels or {}
        if labels.get(LABEL_INSTALLATION) == self.installation_id and labels.get(LABEL_INSTANCE) == instance_id:
            return True
        if labels.get(LABEL_INSTALLATION) == self.installation_id:
            return False  # ours, left by an older instance of the same name: safe to replace
        raise BackendError(f"Docker {kind} {name!r} exists and does not belong to this instance.",
                           code="name_conflict")

    # --- deploy ---------------------------------------------------------------------------------
    def ensure_volumes(self, deployment: Deployment, names: Iterable[str] | None = None) -> None:
        for name in deployment.volumes if names is None else names:
            cache = {LABEL_CACHE: "true"} if name in deployment.cache_volumes else {}
            with translate_errors(f"create volume {name}"):
                # Idempotent for the engine: a volume of that name comes back as it is, with its
                # own labels (one call, where a look-up first took two for every new volume).
                volume = self.client.api.create_volume(name=name, labels=self._labels(deployment, **cache))
            if not self._check_owner("volume", name, volume.get("Labels"), deployment.instance_id):
                raise BackendError(
                    f"Docker volume {name!r} is left from an earlier instance; "
                    "the reconciler removes it, retry afterwards.", code="name_conflict")

    def ensure_containers(self, deployment: Deployment) -> list[str]:
        changed = []
        for spec in deployment.containers:
            digest = _config_digest(spec, deployment)
            with translate_errors(f"create container {spec.name}"):
                # Most often the container is new: create it straight away; the name being taken
                # (409) sends us to the comparison with what is there.
                try:
                    self._create_container(spec, deployment, digest)
                    changed.append(spec.name)
                    continue
                except docker.errors.APIError as exc:
                    if exc.status_code != 409:
                        raise
                try:
                    existing = self.client.containers.get(spec.name)
                    mine = self._check_owner("container", spec.name, existing.labels, deployment.instance_id)
                    if mine and existing.labels.get(LABEL_CONFIG) == digest:
                        continue
                    existing.remove(force=True)
                except docker.errors.NotFound:
                    pass
                # Recreated by a step that does not ensure volumes (wake, resize, update): a volume
                # the app's spec gained since (n8n's cache) would otherwise be made by the engine
                # itself, without our labels, and refused as someone else's at the next start.
                self.ensure_volumes(deployment, {m.volume for m in spec.mounts})
                self._create_container(spec, deployment, digest)
                changed.append(spec.name)
        return changed

    def _create_container(self, spec: ContainerSpec, deployment: Deployment, digest: str) -> None:
        api = self.client.api
        kwargs: dict[str, Any] = {
            "name": spec.name,
            "hostname": spec.service,
            "environment": dict(spec.environment),
            "labels": self._labels(deployment, **{LABEL_SERVICE: spec.service, LABEL_CONFIG: digest}),
            "init": True,
            "restart_policy": {"Name": "unless-stopped"},
            "mem_limit": f"{spec.limits.memory_mb}m",
            "memswap_limit": f"{spec.limits.memory_mb}m",  # no swap beyond the plan's memory
            "nano_cpus": int(spec.limits.cpus * 1_000_000_000),
            "pids_limit": spec.limits.pids,
            "volumes": {m.volume: {"bind": m.path, "mode": "rw"} for m in spec.mounts},
            "network": deployment.network,
            "networking_config": {
                deployment.network: api.create_endpoint_config(ipv4_address=spec.ip, aliases=[spec.service])
            },
            "log_config": LogConfig(type="json-file", config={"max-size": "10m", "max-file": "3"}),
            "detach": True,
            **container_options(spec, tmpfs_owner=self._tmpfs_owner(spec) if spec.tmpfs else None),
        }
        if spec.command is not None:
            kwargs["command"] = list(spec.command)
        if spec.entrypoint is not None:
            kwargs["entrypoint"] = list(spec.entrypoint)
        if spec.user:
            kwargs["user"] = spec.user
        probe = spec.healthcheck
        if probe is not None and probe.command:
            seconds = 1_000_000_000
            kwargs["healthcheck"] = {
                "test": ["CMD", *probe.command],
                "interval": int(probe.interval_seconds * seconds),
                "timeout": int(probe.timeout_seconds * seconds),
                "retries": probe.retries,
                "start_period": int(probe.start_period_seconds * seconds),
            }
        try:
            self.client.containers.create(spec.image, **kwargs)
        except docker.errors.ImageNotFound as exc:
            raise BackendError(missing_image_message(spec.image), code="image_missing") from exc

    def start(self, deployment: Deployment, *, service: str | None = None) -> None:
        for spec in deployment.containers:
            if service is not None and spec.service != service:
                continue
            with translate_errors(f"start container {spec.name}"):
                # Starting a running container is a no-op for the engine (304): no inspect first.
                self.client.api.start(spec.name)

    def stop(self, instance_id: str, *, timeout: int = 10) -> None:
        with translate_errors("stop containers"):
            containers = self.client.containers.list(filters=self._instance_filter(instance_id))
        # Stop in parallel: an instance with ten services should not take ten stop timeouts.
        errors: list[BaseException] = []

        def stop_one(container: Any) -> None:
            try:
                with translate_errors(f"stop container {container.name}"):
                    container.stop(timeout=timeout)
            except BackendError as exc:
                if exc.code != "not_found":
                    errors.append(exc)

        _run_parallel(stop_one, containers)
        if errors:
            raise errors[0]

    def remove_containers(self, instance_id: str) -> list[str]:
        with translate_errors("list containers"):
            containers = self.client.containers.list(all=True, filters=self._instance_filter(instance_id))
        removed = []
        for container in containers:
            with ignore_not_found(), translate_errors(f"remove container {container.name}"):
                container.remove(force=True, v=False)
                removed.append(container.name or "")
        return removed

    def remove_volumes(self, instance_id: str) -> list[str]:
        with translate_errors("list volumes"):
            volumes = self.client.volumes.list(filters=self._instance_filter(instance_id))
        removed = []
        for volume in volumes:
            with ignore_not_found(), translate_errors(f"remove volume {volume.name}"):
                volume.remove(force=True)
                removed.append(volume.name or "")
        return removed

    # --- clean up ------------------------------------------------------------------------------
    def remove_resource(self, resource: ManagedResource) -> None:
        with ignore_not_found(), translate_errors(f"remove {resource.kind} {resource.name}"):
            if resource.kind == "container":
                self.client.containers.get(resource.name).remove(force=True)
            elif resource.kind == "network":
                self._remove_network_object(self.client.networks.get(resource.name))
            elif resource.kind == "volume":
                self.client.volumes.get(resource.name).remove(force=True)
            else:
                raise BackendError(f"unknown resource kind {resource.kind!r}")


def _config_digest(spec: ContainerSpec, deployment: Deployment) -> str:
    """A fingerprint of everything that needs a new container when it changes."""
    payload = {
        "image": spec.image,
        "command": spec.command,
        "entrypoint": spec.entrypoint,
        "environment": sorted(spec.environment.items()),
        "mounts": [(m.volume, m.path) for m in spec.mounts],
        "ip": spec.ip,
        "network": deployment.network,
        "limits": [spec.limits.memory_mb, spec.limits.cpus, spec.limits.pids],
        "health": spec.healthcheck.command if spec.healthcheck else None,
        "user": spec.user,
        "confinement": container_options(spec),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _run_parallel(fn: Callable[[Any], None], items: list[Any]) -> None:
    threads = [threading.Thread(target=fn, args=(item,), daemon=True) for item in items]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
