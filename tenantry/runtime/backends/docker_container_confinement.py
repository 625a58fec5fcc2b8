"""Confinement of tenant containers on a Docker host: every capability dropped and only the
spec's added back, `no-new-privileges`, a read-only root filesystem with size-limited tmpfs where
the spec allows. (Their networks' host firewall: docker_confinement.)"""

from __future__ import annotations

from typing import Any

from tenantry.runtime.backends.base import ContainerSpec


def container_options(spec: ContainerSpec, *, tmpfs_owner: tuple[int, int] | None = None) -> dict[str, Any]:
    """Docker create() arguments that confine one container. `tmpfs_owner`: (uid, gid) of the
    user the container runs as, who must be able to write its tmpfs."""
    options: dict[str, Any] = {
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],  # no setuid binary or file capability raises privileges
        "read_only": spec.read_only_root,
    }
    if spec.capabilities:
        options["cap_add"] = list(spec.capabilities)
    if spec.tmpfs:
        # Docker 20.10 forgets `mode` when it restarts a container (the directory comes back
        # root-owned, 0755) but keeps uid/gid: own the tmpfs by the container's user.
        owner = f",uid={tmpfs_owner[0]},gid={tmpfs_owner[1]}" if tmpfs_owner else ""
        options["tmpfs"] = {
            mount.path: (f"size={mount.size_mb}m,mode=1777{owner},nosuid,nodev,"
                         f"{'exec' if mount.executable else 'noexec'}")
            for mount in spec.tmpfs}
    return options


def user_ids(user: str, passwd: str, group: str) -> tuple[int, int] | None:
    """(uid, gid) of `user` ("name", "uid", "name:group", "uid:gid") from an image's own
    /etc/passwd and /etc/group texts; None for root or a name the image does not know."""
    name, _, group_name = user.partition(":")
    if name in ("", "root", "0"):
        return None
    users = {fields[0]: (int(fields[2]), int(fields[3])) for line in passwd.splitlines()
             if len(fields := line.split(":")) >= 4 and fields[2].isdigit() and fields[3].isdigit()}
    groups = {fields[0]: int(fields[2]) for line in group.splitlines()
              if len(fields := line.split(":")) >= 3 and fields[2].isdigit()}
    if name.isdigit():
        uid = int(name)
        gid = next((g for u, g in users.values() if u == uid), uid)
    elif name in users:
        uid, gid = users[name]
    else:
        return None
    if group_name:
        gid = int(group_name) if group_name.isdigit() else groups.get(group_name, gid)
    return uid, gid
