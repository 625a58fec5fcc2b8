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
