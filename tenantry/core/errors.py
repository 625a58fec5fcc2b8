"""Errors that services raise, with a stable machine-readable code.

The API maps them to `{"code", "message", "details"}` with `status`, the CLI to a message and a
non-zero exit, the admin and dashboard to a form error.
"""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    code = "error"
    status = 400

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details or {}

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class ValidationError(ApplicationError):
    code = "invalid_input"
    status = 422


class NotFound(ApplicationError):
    code = "not_found"
    status = 404


class Conflict(ApplicationError):
    code = "conflict"
    status = 409


class ServiceUnavailable(ApplicationError):
    code = "unavailable"
    status = 503
