"""What the Docker runtime measures for metering: volume usage and CPU / memory per container.

CPU and memory come from the cgroup files of the engine's host, not `docker stats` (one stats
call costs ~1 s here; reading the files of 50 containers ~7 ms). Both cgroup v1 (this machine:
cgroupfs driver, `/sys/fs/cgroup/{cpuacct,memory}/docker/<id>`) and v2
(`/sys/fs/cgroup/docker/<id>` or `/sys/fs/cgroup/system.slice/docker-<id>.scope`) are read. The
files are the host's, so this works for a local engine only; a remote engine's host needs the
collector to run there (TENANTRY_METERING_CGROUP_ROOT points at a mounted copy otherwise).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import docker

from tenantry.runtime.backends.base import BackendError, ContainerUsage
from tenantry.runtime.backends.docker_errors import translate_errors
from tenantry.runtime.backends.docker_observe import LABEL_CACHE, LABEL_INSTALLATION, LABEL_INSTANCE


class DockerUsage:
    installation_id: str
    cgroup_root: Path

    @property
    def client(self) -> docker.DockerClient:
        raise NotImplementedError

    def volume_usage(self) -> dict[str, int]:
        """Bytes used by each instance's volumes (instance id -> bytes), from the engine's disk
        usage report (it walks every volume: seconds on a big host, so daily and on demand).
        Cache volumes are left out: what the app rebuilds at start is not the customer's data."""
        with translate_errors("measure volume usage"):
            report = self.client.df()
        usage: dict[str, int] = {}
        for volume in report.get("Volumes") or []:
            labels = volume.get("Labels") or {}
            if (labels.get(LABEL_INSTALLATION) != self.installation_id or not labels.get(LABEL_INSTANCE)
                    or labels.get(LABEL_CACHE) == "true"):
                continue
            size = (volume.get("UsageData") or {}).get("Size", -1)
            if size is None or size < 0:
                raise BackendError(f"The engine did not measure volume {volume.get('Name')}.", code="usage_unknown")
            usage[labels[LABEL_INSTANCE]] = usage.get(labels[LABEL_INSTANCE], 0) + int(size)
        return usage

    def container_usage(self) -> list[ContainerUsage]:
        """CPU time and memory of every running container of this installation."""
        with translate_errors("list running containers"):
            # The low-level list: the high-level one inspects every container (one call each).
            containers: list[dict[str, Any]] = self.client.api.containers(
                filters={"label": [f"{LABEL_INSTALLATION}={self.installation_id}"], "status": "running"})
        return [self._read_cgroup(c["Id"], (c.get("Labels") or {}).get(LABEL_INSTANCE, "")) for c in containers]

    def _read_cgroup(self, container_id: str, instance_id: str) -> ContainerUsage:
        root = self.cgroup_root
        v1_cpu = root / "cpuacct" / "docker" / container_id / "cpuacct.usage"
        if v1_cpu.exists():
            memory_dir = root / "memory" / "docker" / container_id
            used = int((memory_dir / "memory.usage_in_bytes").read_text())
            inactive = _stat(memory_dir / "memory.stat", "total_inactive_file")
            return ContainerUsage(instance_id=instance_id, container_id=container_id,
                                  cpu_ns=int(v1_cpu.read_text()), memory_bytes=max(used - inactive, 0))
        for directory in (root / "docker" / container_id, root / "system.slice" / f"docker-{container_id}.scope"):
            if (directory / "cpu.stat").exists():
                used = int((directory / "memory.current").read_text())
                inactive = _stat(directory / "memory.stat", "inactive_file")
                return ContainerUsage(instance_id=instance_id, container_id=container_id,
                                      cpu_ns=_stat(directory / "cpu.stat", "usage_usec") * 1000,
                                      memory_bytes=max(used - inactive, 0))
        raise BackendError(f"No cgroup files for container {container_id[:12]} under {root}.", code="usage_unknown")


def _stat(path: Path, name: str) -> int:
    for line in path.read_text().splitlines():
        key, _, value = line.partition(" ")
        if key == name:
            return int(value)
    return 0
