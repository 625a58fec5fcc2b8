"""Who a tenant container runs as, read from its image: the owner its tmpfs mounts need.

Docker 20.10 forgets a tmpfs's mode when a container restarts (the directory comes back
root-owned, 0755) but keeps its uid/gid, so a non-root app could no longer write its tmpfs after
a wake; mounting it owned by the container's user avoids that. User names are looked up in the
image's own /etc/passwd and /etc/group, never guessed.
"""

from __future__ import annotations

import io
import tarfile

import docker
import docker.errors

from tenantry.runtime.backends.base import BackendError, ContainerSpec
from tenantry.runtime.backends.docker_container_confinement import user_ids
from tenantry.runtime.backends.docker_errors import missing_image_message, translate_errors
from tenantry.runtime.backends.docker_observe import LABEL_INSTALLATION


class DockerImageUsers:
    installation_id: str
    _user_ids_cache: dict[tuple[str, str], tuple[int, int] | None]

    @property
    def client(self) -> docker.DockerClient:
        raise NotImplementedError

    def _tmpfs_owner(self, spec: ContainerSpec) -> tuple[int, int] | None:
        """(uid, gid) the container runs as: the spec's user or the image's, names looked up in
        the image's own /etc/passwd (read from a container created, never started, for that)."""
        try:
            with translate_errors(f"inspect image {spec.image}"):
                image = self.client.images.get(spec.image)
        except BackendError as exc:
            if exc.code in ("not_found", "image_missing"):
                raise BackendError(missing_image_message(spec.image), code="image_missing") from exc
            raise
        user = spec.user or (image.attrs.get("Config") or {}).get("User") or ""
        key = (image.id or "", user)
        if key not in self._user_ids_cache:
            name, _, group = user.partition(":")
            if name in ("", "root", "0") or (name.isdigit() and (not group or group.isdigit())):
                found = user_ids(user, "", "")
            else:
                found = user_ids(user, *self._image_files(spec.image, "/etc/passwd", "/etc/group"))
            self._user_ids_cache[key] = found
        return self._user_ids_cache[key]

    def _image_files(self, image: str, *paths: str) -> list[str]:
        texts = []
        with translate_errors(f"read {', '.join(paths)} of {image}"):
            # Labelled as ours with no instance: if we die here, the reconciler removes it.
            probe = self.client.containers.create(image, command=["true"], entrypoint=[],
                                                  labels={LABEL_INSTALLATION: self.installation_id},
                                                  network_disabled=True)
            try:
                for path in paths:
                    try:
                        stream, _ = probe.get_archive(path)
                    except docker.errors.NotFound:
                        texts.append("")
                        continue
                    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
                        member = archive.extractfile(archive.getmembers()[0])
                        texts.append(member.read().decode(errors="replace") if member else "")
            finally:
                probe.remove(force=True)
        return texts
