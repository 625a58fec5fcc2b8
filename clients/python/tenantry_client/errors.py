"""Errors: every failed API answer is an ApiError with the API's stable `code`."""

from __future__ import annotations

from typing import Any


class TenantryError(Exception):
    pass


class ApiError(TenantryError):
    """The API answered with an error: `status`, `code` (stable, e.g. `instance_not_found`),
    `message` (for people) and `details`."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.headers = headers or {}


class NotFound(ApiError):
    pass


class RateLimited(ApiError):
    """Still limited after the client's retries (see `retry_after`)."""

    @property
    def retry_after(self) -> float | None:
        value = self.headers.get("retry-after")
        return float(value) if value else None
