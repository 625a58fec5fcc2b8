"""The REST API root: `/api/v1/`, team API keys as bearer tokens, one error shape for failures."""

from __future__ import annotations

import structlog
from django.http import Http404, HttpRequest, HttpResponse
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from tenantry.api.auth import ApiKeyAuth, access_of
from tenantry.api.openapi import TenantryNinjaAPI
from tenantry.core.errors import ApplicationError

__all__ = ["ApiKeyAuth", "access_of", "api"]

log = structlog.get_logger(__name__)
# Codes for the HTTP errors django-ninja raises itself (throttling, its own checks).
_HTTP_ERROR_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                     405: "method_not_allowed", 429: "rate_limited"}

# NinjaAPI, with every error answer documented in the schema (tenantry/api/openapi.py).
api = TenantryNinjaAPI(
    title="Tenantry API",
    version="1",
    description="Provision and run isolated app instances. Authenticate with a team API key: "
    "`Authorization: Bearer <key>`.",
    auth=ApiKeyAuth(),
    urls_namespace="api-v1",
)


def _error(request: HttpRequest, status: int, code: str, message: str, details: dict | None = None
           ) -> HttpResponse:
    return api.create_response(request, {"code": code, "message": message, "details": details or {}},
                               status=status)


@api.exception_handler(ApplicationError)
def _application_error(request: HttpRequest, exc: ApplicationError) -> HttpResponse:
    return _error(request, exc.status, exc.code, exc.message, exc.details)


@api.exception_handler(NinjaValidationError)
def _validation_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    errors = [{"field": ".".join(str(p) for p in e.get("loc", [])[1:]), "message": e.get("msg", "")}
              for e in exc.errors]
    text = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "invalid input"
    return _error(request, 422, "invalid_input", text, {"errors": errors})


@api.exception_handler(AuthenticationError)
def _auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _error(request, 401, "unauthorized", "A valid API key is required (Authorization: Bearer …).")


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return _error(request, exc.status_code, _HTTP_ERROR_CODES.get(exc.status_code, "error"), str(exc))


@api.exception_handler(Exception)
def _unhandled(request: HttpRequest, exc: Exception) -> HttpResponse:
    """A bug, not the caller's fault: logged with its traceback, answered in the error shape
    without it (a traceback tells an attacker about the code, and clients expect JSON)."""
    log.exception("api.unhandled_error", method=request.method, path=request.path, error=type(exc).__name__)
    return _error(request, 500, "internal_error", "Something went wrong on our side; it has been logged.")


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _error(request, 404, "not_found", str(exc) or "Not found.")


from tenantry.accounts.api.team_settings import router as team_router  # noqa: E402
from tenantry.articles.api import router as articles_router  # noqa: E402
from tenantry.automations.api import router as automations_router  # noqa: E402
from tenantry.backups.api import router as backups_router  # noqa: E402
from tenantry.billing.api import router as billing_router  # noqa: E402
from tenantry.catalog.api import router as catalog_router  # noqa: E402
from tenantry.instances.api import router as instances_router  # noqa: E402
from tenantry.instances.api_logs import router as instance_logs_router  # noqa: E402
from tenantry.metering.api import router as metering_router  # noqa: E402
from tenantry.notifications.api import router as notifications_router  # noqa: E402
from tenantry.routing.api import router as routing_router  # noqa: E402

# --- support tickets (tenantry.support) ---
from tenantry.support.api import router as support_router  # noqa: E402

# Updates (issue 11 item 6): rollouts (operators) and maintenance windows (teams).
from tenantry.updates.api import router as updates_router  # noqa: E402
from tenantry.webhooks.api import router as webhooks_router  # noqa: E402

api.add_router("/apps", catalog_router)
api.add_router("/", instances_router)
api.add_router("/", instance_logs_router)  # an instance's app logs
api.add_router("/", automations_router)
api.add_router("/", articles_router)
api.add_router("/", team_router)
api.add_router("/", routing_router)
api.add_router("/", metering_router)
api.add_router("/", backups_router)
api.add_router("/billing", billing_router)
api.add_router("/webhooks", webhooks_router)
api.add_router("/notifications", notifications_router)
api.add_router("/", support_router)
api.add_router("/", updates_router)

# --- customer care: audit trail, account privacy, teams and members, rate limits ---
from tenantry.accounts.api import router as teams_router  # noqa: E402
from tenantry.privacy.account_api import router as account_router  # noqa: E402
from tenantry.privacy.api import router as audit_router  # noqa: E402

api.add_router("/audit", audit_router)
api.add_router("/", teams_router)
api.add_router("/account", account_router)
