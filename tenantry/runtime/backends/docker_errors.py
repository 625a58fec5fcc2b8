"""Docker SDK exceptions turned into the only two errors a runtime backend may raise."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import docker.errors
import requests.exceptions

from tenantry.runtime.backends.base import BackendError, TransientBackendError


def missing_image_message(image: str) -> str:
    return (f"The image {image!r} is not on this Docker host, and no registry is reachable to pull "
            "it. Build or load it on the host (or set TENANTRY_IMAGE_OVERRIDES).")


@contextmanager
def ignore_not_found() -> Iterator[None]:
    try:
        yield
    except BackendError as exc:
        if exc.code != "not_found":
            raise


@contextmanager
def translate_errors(doing: str) -> Iterator[None]:
    """Turn SDK/transport exceptions into the two errors backends may raise."""
    try:
        yield
    except BackendError:
        raise
    except docker.errors.ImageNotFound as exc:
        raise BackendError(f"Could not {doing}: {exc.explanation}", code="image_missing") from exc
    except docker.errors.NotFound as exc:
        raise BackendError(f"Could not {doing}: not found", code="not_found") from exc
    except docker.errors.APIError as exc:
        status = exc.status_code or 500
        message = f"Could not {doing}: {exc.explanation or exc}"
        if status >= 500 or status == 409:
            raise TransientBackendError(message) from exc
        raise BackendError(message) from exc
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
            docker.errors.DockerException, ConnectionError, TimeoutError) as exc:
        raise TransientBackendError(
            f"Could not {doing}: the Docker engine is unreachable ({exc.__class__.__name__}).",
            code="runtime_unreachable",
        ) from exc
