"""Final backup of an instance's volumes before it is archived: one tar per mount, in the data dir.

The archive is read from the instance's own (stopped) containers with Docker's archive API, so no
helper container or extra image is needed; volumes themselves are kept for the retention period.
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from tenantry.runtime.backends.base import BackendError, Deployment, RuntimeBackend


def archive_dir(instance_id: str) -> Path:
    return Path(settings.DATA_DIR) / "archives" / instance_id


def archive_instance_volumes(runtime: RuntimeBackend, deployment: Deployment) -> Path:
    """Write `<data>/archives/<instance>/final-<time>.tar` holding every mounted volume; idempotent."""
    target_dir = archive_dir(deployment.instance_id)
    target_dir.mkdir(parents=True, exist_ok=True)
    existing = sorted(target_dir.glob("final-*.tar"))
    if existing:
        return existing[-1]  # a resumed operation keeps the backup it already took
    client = getattr(runtime, "client", None)
    if client is None:
        raise BackendError("this runtime backend cannot export volumes", code="unsupported")
    final = target_dir / f"final-{timezone.now():%Y%m%dT%H%M%S}.tar"
    partial = final.with_suffix(".part")
    import docker

    with tarfile.open(partial, "w") as bundle:
        for container in deployment.containers:
            for mount in container.mounts:
                try:
                    stream, _ = client.containers.get(container.name).get_archive(mount.path)
                except docker.errors.NotFound as exc:
                    raise BackendError(f"{container.name} is gone: cannot read {mount.path}",
                                       code="not_found") from exc
                except docker.errors.APIError as exc:
                    raise BackendError(f"reading {mount.path} of {container.name}: {exc}") from exc
                piece = target_dir / f"{mount.volume}.tar.part"
                with piece.open("wb") as out:
                    for chunk in stream:
                        out.write(chunk)
                bundle.add(piece, arcname=f"{mount.volume}.tar")
                piece.unlink()
    os.replace(partial, final)  # a half-written archive never looks complete
    return final
