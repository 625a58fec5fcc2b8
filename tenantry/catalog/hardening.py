"""What an app spec may say about its containers' confinement: capabilities added back after
all are dropped, in-memory writable paths of a read-only service, and what of the host and the
cloud it may reach (tenantry.runtime enforces them)."""

from __future__ import annotations

from pydantic import Field, field_validator

from tenantry.catalog.spec_base import Strict

# What a service may add back after every capability is dropped: at most Docker's own default
# set. Anything beyond it (SYS_ADMIN, NET_ADMIN, SYS_PTRACE, ...) opens the host to a tenant.
ALLOWED_CAPABILITIES = frozenset({
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
    "NET_RAW", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
})


class Tmpfs(Strict):
    """A writable in-memory directory for a read-only service (caches, sockets, run files).
    Its size counts in the service's memory."""

    path: str
    size_mb: int = Field(default=64, ge=1, le=4096)
    # Programs may run from it (mounted noexec otherwise).
    exec: bool = False

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/") or value.rstrip("/") == "":
            raise ValueError("must be an absolute path in the container, not /")
        return value


class NetworkAccess(Strict):
    """What an app may reach besides the internet. By default nothing of the host it runs on
    (its own services, on the network's gateway address) and no cloud metadata address."""

    host_ports: list[int] = Field(default_factory=list, max_length=16)
    cloud_metadata: bool = False
    # The installation's proxy on the host (its public HTTP and HTTPS ports): for an app that
    # calls sites this same server serves — n8n publishing to a customer's WordPress here. Their
    # public names resolve to this server, whose firewall would otherwise refuse the container;
    # the proxy answers only what it answers the internet, so nothing private is opened.
    proxy: bool = False

    @field_validator("host_ports")
    @classmethod
    def _ports(cls, value: list[int]) -> list[int]:
        for port in value:
            if not 1 <= port <= 65535:
                raise ValueError(f"{port} is not a TCP port")
        return sorted(set(value))
