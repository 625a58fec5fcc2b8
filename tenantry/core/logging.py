"""JSON logs through structlog, with secrets masked by key name as a last line of defence.

Secrets should never be handed to a logger in the first place; the masking catches mistakes.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import structlog

_SECRET_KEY_PATTERN = re.compile(r"pass(word)?|secret|token|api[_-]?key|authorization|cookie", re.I)
MASK = "***"


def mask_secrets(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    for key in list(event_dict):
        if key != "event" and _SECRET_KEY_PATTERN.search(key):
            event_dict[key] = MASK
    return event_dict


_shared_processors: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    mask_secrets,
]

structlog.configure(
    processors=[*_shared_processors, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
    logger_factory=structlog.stdlib.LoggerFactory(),
    wrapper_class=structlog.stdlib.BoundLogger,
    cache_logger_on_first_use=True,
)


class JsonFormatter(structlog.stdlib.ProcessorFormatter):
    def __init__(self, **kwargs: Any) -> None:
        kwargs["processors"] = [
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ]
        kwargs["foreign_pre_chain"] = _shared_processors
        super().__init__(**kwargs)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)


__all__ = ["JsonFormatter", "get_logger", "logging"]


# --- context: every line logged while handling a request or running an operation says which ---
OPERATION_LOG_KEYS = ("instance", "team", "operation", "kind")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,100}")
# Polled by supervisors and Prometheus every few seconds: logged only when they fail.
_QUIET_PATHS = ("/healthz", "/readyz", "/metrics", "/static/")


def bind_operation_context(*, instance: str, team: str, operation: str, kind: str) -> None:
    structlog.contextvars.bind_contextvars(instance=instance, team=team, operation=operation, kind=kind)


def clear_operation_context() -> None:
    structlog.contextvars.unbind_contextvars(*OPERATION_LOG_KEYS)


class RequestLogMiddleware:
    """One JSON line per request (method, path, status, duration, team) with a request id that
    every line logged meanwhile carries, and that the response returns as `X-Request-Id`.

    A request id sent by the proxy (Traefik can add one) is kept when it looks like one, so a
    request can be followed from the proxy's access log to ours."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response
        self.log = get_logger("tenantry.request")

    def __call__(self, request: Any) -> Any:
        import time
        import uuid

        supplied = request.headers.get("X-Request-Id", "")
        request_id = supplied if _REQUEST_ID.fullmatch(supplied) else uuid.uuid4().hex
        request.request_id = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response["X-Request-Id"] = request_id
            if response.status_code >= 400 or not request.path.startswith(_QUIET_PATHS):
                access = getattr(request, "access", None)
                team = getattr(getattr(access, "team", None), "slug", "")
                user = getattr(request, "user", None)
                self.log.info("request", method=request.method, path=request.path, status=response.status_code,
                              duration_ms=round((time.perf_counter() - started) * 1000, 1), team=team,
                              user=str(user.pk) if user is not None and user.is_authenticated else "")
            return response
        finally:
            structlog.contextvars.clear_contextvars()
