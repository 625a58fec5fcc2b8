"""What the Docker runtime reads: instance state, managed resources, logs, limits, and running
a command in a container. Mixed into DockerRuntime (docker.py), which provides the client."""

from __future__ import annotations

import re
import threading
from datetime import datetime
from typing import Any

import docker

from tenantry.runtime.backends.base import (
    MAX_LOG_LINE_CHARS,
    MAX_LOG_LINES,
    BackendError,
    ContainerState,
    Deployment,
    ExecResult,
    InstanceState,
    LogLine,
    ManagedResource,
    Observation,
    ResourceLimits,
)
from tenantry.runtime.backends.docker_errors import translate_errors

LABEL_INSTALLATION = "tenantry.installation"
LABEL_INSTANCE = "tenantry.instance"
LABEL_SERVICE = "tenantry.service"
# On a volume holding only what the app rebuilds at start: not measured as the customer's storage.
LABEL_CACHE = "tenantry.cache"


class DockerObservation:
    installation_id: str

    @property
    def client(self) -> docker.DockerClient:
        raise NotImplementedError

    def _instance_filter(self, instance_id: str) -> dict[str, str | list[str] | bool]:
        return {"label": [f"{LABEL_INSTALLATION}={self.installation_id}", f"{LABEL_INSTANCE}={instance_id}"]}

    def state(self, deployment: Deployment) -> InstanceState:
        with translate_errors("read instance state"):
            found = {c.name: c for c in self.client.containers.list(
                all=True, filters=self._instance_filter(deployment.instance_id))}
            networks = self.client.networks.list(filters=self._instance_filter(deployment.instance_id))
            volumes = self.client.volumes.list(filters=self._instance_filter(deployment.instance_id))
        states = []
        for spec in deployment.containers:
            container = found.get(spec.name)
            if container is None:
                states.append(ContainerState(service=spec.service, name=spec.name, exists=False, running=False))
                continue
            attrs = container.attrs.get("State", {})
            states.append(ContainerState(
                service=spec.service,
                name=spec.name,
                exists=True,
                running=attrs.get("Running", False) and not attrs.get("Restarting", False),
                health=(attrs.get("Health") or {}).get("Status"),
                exit_code=attrs.get("ExitCode"),
                restart_count=container.attrs.get("RestartCount", 0),
            ))
        return InstanceState(
            instance_id=deployment.instance_id,
            network_exists=any(n.name == deployment.network for n in networks),
            volumes=tuple(sorted(v.name for v in volumes)),
            containers=tuple(states),
        )

    def list_managed(self) -> list[ManagedResource]:
        return list(self.observe().resources)

    def observe(self) -> Observation:
        # Sparse: the engine's list answer as it is. The SDK's default inspects every container
        # once more (one call each: ~1,000 calls at 1,000 instances).
        flt: dict[str, str | list[str] | bool] = {"label": [f"{LABEL_INSTALLATION}={self.installation_id}"]}
        with translate_errors("list managed resources"):
            listed = self.client.containers.list(all=True, sparse=True, filters=flt)
            networks = self.client.networks.list(filters=flt)
            volumes = self.client.volumes.list(filters=flt)
        containers: dict[str, ContainerState] = {}
        found: list[ManagedResource] = []
        for container in listed:
            attrs = container.attrs
            name = (attrs.get("Names") or [""])[0].lstrip("/")
            labels = attrs.get("Labels") or {}
            containers[name] = listed_container_state(name, labels.get(LABEL_SERVICE, ""), attrs)
            found.append(ManagedResource("container", name, labels.get(LABEL_INSTANCE, "")))
        found += [ManagedResource("network", n.name or "", (n.attrs.get("Labels") or {}).get(LABEL_INSTANCE, ""))
                  for n in networks]
        found += [ManagedResource("volume", v.name or "", (v.attrs.get("Labels") or {}).get(LABEL_INSTANCE, ""))
                  for v in volumes]
        return Observation(containers=containers, resources=tuple(found))

    def exec(self, deployment: Deployment, service: str, command: list[str], *,
             timeout: float = 120) -> ExecResult:
        name = deployment.container(service).name
        with translate_errors(f"run a command in {name}"):
            container = self.client.containers.get(name)
            result: dict[str, Any] = {}

            def run() -> None:
                try:
                    result["value"] = container.exec_run(command, demux=False)
                except BaseException as exc:  # surfaced in the caller's thread
                    result["error"] = exc

            worker = threading.Thread(target=run, daemon=True)
            worker.start()
            worker.join(timeout)
            if worker.is_alive():
                raise BackendError(f"command in {name} did not finish within {timeout:g} s", code="timeout")
            if "error" in result:
                raise result["error"]
        exit_code, output = result["value"]
        return ExecResult(exit_code=exit_code, output=(output or b"").decode(errors="replace"))

    def logs(self, deployment: Deployment, service: str, *, tail: int = 100) -> str:
        name = deployment.container(service).name
        with translate_errors(f"read logs of {name}"):
            return self.client.containers.get(name).logs(tail=tail).decode(errors="replace")

    def read_logs(self, deployment: Deployment, service: str, *, tail: int = 100,
                  after_ns: int | None = None) -> list[LogLine]:
        name = deployment.container(service).name
        options: dict[str, Any] = {"stdout": True, "stderr": True, "timestamps": True,
                                   "tail": max(1, min(int(tail), MAX_LOG_LINES))}
        if after_ns is not None and after_ns > 0:
            # The engine keeps lines at or after `since` (seconds, a float here): start a
            # microsecond early so that rounding never loses a line; the exact cut is made below.
            options["since"] = (after_ns - 1000) / 1_000_000_000
        with translate_errors(f"read logs of {name}"):
            try:
                raw = self.client.containers.get(name).logs(**options)
            except docker.errors.NotFound:
                return []
        lines = []
        for entry in raw.decode(errors="replace").split("\n"):
            stamp, _, text = entry.partition(" ")
            at_ns = parse_timestamp_ns(stamp)
            if at_ns is None or (after_ns is not None and at_ns <= after_ns):
                continue
            lines.append(LogLine(service=service, at_ns=at_ns, text=text.rstrip("\r")[:MAX_LOG_LINE_CHARS]))
        return lines

    def inspect_limits(self, deployment: Deployment, service: str) -> ResourceLimits:
        name = deployment.container(service).name
        with translate_errors(f"inspect {name}"):
            host = self.client.containers.get(name).attrs["HostConfig"]
        return ResourceLimits(
            memory_mb=host["Memory"] // (1024 * 1024),
            cpus=host["NanoCpus"] / 1_000_000_000,
            pids=host["PidsLimit"],
        )

    def container_ip(self, deployment: Deployment, service: str) -> str:
        name = deployment.container(service).name
        with translate_errors(f"inspect {name}"):
            networks = self.client.containers.get(name).attrs["NetworkSettings"]["Networks"]
        return networks[deployment.network]["IPAddress"]


_EXITED = re.compile(r"^(?:Exited|Restarting) \((-?\d+)\)")
_HEALTH = {"(healthy)": "healthy", "(unhealthy)": "unhealthy", "(health: starting)": "starting"}


def listed_container_state(name: str, service: str, attrs: dict[str, Any]) -> ContainerState:
    """A container's state from the engine's list answer (`State` is a word there, the exit code
    and health are in the `Status` sentence; the engine says 0 for a container that never
    exited, as its inspection does); the health shows only while it runs, the restart count not
    at all."""
    status = attrs.get("Status") or ""
    exited = _EXITED.match(status)
    return ContainerState(
        service=service, name=name, exists=True, running=attrs.get("State") == "running",
        health=next((value for marker, value in _HEALTH.items() if status.endswith(marker)), None),
        exit_code=int(exited.group(1)) if exited else 0)


def parse_timestamp_ns(stamp: str) -> int | None:
    """Nanoseconds since the epoch of an RFC 3339 timestamp as Docker writes it
    (`2026-12-02T10:30:00.123456789Z`, the fraction of any length); None when it is not one."""
    try:
        if stamp.endswith("Z"):
            stamp, offset = stamp[:-1], "+00:00"
        else:
            stamp, offset = stamp[:-6], stamp[-6:]
        whole, _, fraction = stamp.partition(".")
        if not fraction.isdigit() and fraction:
            return None
        seconds = datetime.fromisoformat(whole + offset).timestamp()
    except ValueError:
        return None
    return int(seconds) * 1_000_000_000 + int((fraction or "0")[:9].ljust(9, "0"))
