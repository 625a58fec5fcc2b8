from __future__ import annotations

from tenantry.core.errors import ApplicationError


class InvalidUsageEvent(ApplicationError):
    """A batch item is malformed, out of order, or names a meter or instance the caller may not
    use; `details.index` is the offending item, and nothing of the batch was stored."""

    code = "invalid_usage_event"
    status = 422


class QuotaExceeded(ApplicationError):
    """The plan's policy for a used-up quota is to block what would use more of it."""

    code = "quota_exceeded"
    status = 409
