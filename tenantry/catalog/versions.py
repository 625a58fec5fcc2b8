"""The versions of an app the catalog knows, for updates an operator rolls out (tenantry.updates).

The spec's own `version` runs the images its services name. `versions` adds the others: the
version instances still run (kept so that they keep their images until they are updated, and
so that a failed update can go back to them) and new ones not yet made the default. Each names
the image of every service that differs; an instance's `app_version` picks the images it runs.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pydantic import Field

from tenantry.catalog.spec_base import Strict

if TYPE_CHECKING:
    from tenantry.catalog.schema import AppSpec

VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,39}$"


class AppVersion(Strict):
    # Service name -> image; a service not named keeps the image of `services.<name>.image`.
    images: dict[str, str] = Field(default_factory=dict)
    # The new version may change the data in its volumes on first start (a schema migration):
    # then a rollback puts the pre-update backup back as well as the old images. True unless
    # the spec says otherwise: an undo that loses nothing is the safe default.
    migrates_data: bool = True


def check_versions(versions: dict[str, AppVersion], service_names: set[str]) -> None:
    for version, info in versions.items():
        if not re.match(VERSION_PATTERN, version):
            raise ValueError(f"versions: {version!r} must match {VERSION_PATTERN}")
        for service in info.images:
            if service not in service_names:
                raise ValueError(f"versions.{version}.images: unknown service {service!r}")


def known_versions(spec: AppSpec) -> list[str]:
    return sorted({spec.version, *spec.versions})


def version_migrates_data(spec: AppSpec, version: str) -> bool:
    info = spec.versions.get(version)
    return True if info is None else info.migrates_data


def service_image(spec: AppSpec, version: str, service: str) -> str:
    """The image `service` runs in `version` (the spec's own images for its `version`, and for a
    version the catalog no longer lists)."""
    info = spec.versions.get(version)
    if info is not None and service in info.images:
        return info.images[service]
    return spec.services[service].image


def version_images(spec: AppSpec, version: str) -> list[str]:
    return sorted({service_image(spec, version, name) for name in spec.services})
