"""Completes the OpenAPI document with the answers every operation can give but no view lists:
401 (no or a bad key), 429 (rate limited, with its headers), 422 (invalid input) where there is
input, 404 where the path names something. Clients (and the schemathesis fuzzing) rely on every
status they can receive being documented, in the one error shape."""

from __future__ import annotations

from typing import Any

ERROR_REF = "#/components/schemas/ErrorOut"
_ERROR_SCHEMA = {"title": "ErrorOut", "type": "object", "required": ["code", "message", "details"],
                 "properties": {"code": {"type": "string", "title": "Code"},
                                "message": {"type": "string", "title": "Message"},
                                "details": {"type": "object", "title": "Details", "additionalProperties": True}}}
_RATE_HEADERS = {name: {"schema": {"type": "integer"}, "description": text} for name, text in (
    ("RateLimit-Limit", "Requests allowed in the window"),
    ("RateLimit-Remaining", "Requests left in the window"),
    ("RateLimit-Reset", "Seconds until the window ends"),
    ("Retry-After", "Seconds to wait before retrying"))}
_DESCRIPTIONS = {"401": "Unauthorized", "404": "Not found", "422": "Invalid input", "429": "Too many requests"}


def _error(status: str) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": _DESCRIPTIONS[status],
                              "content": {"application/json": {"schema": {"$ref": ERROR_REF}}}}
    if status == "429":
        answer["headers"] = _RATE_HEADERS
    return answer


def complete_error_responses(document: dict[str, Any]) -> dict[str, Any]:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("ErrorOut", _ERROR_SCHEMA)
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            statuses = ["401", "429"]
            if operation.get("parameters") or operation.get("requestBody"):
                statuses.append("422")
            if "{" in path or any(p.get("name", "").endswith("_id") for p in operation.get("parameters", [])):
                statuses.append("404")  # the path, or a filter, names something that may not exist
            for status in statuses:
                responses.setdefault(status, _error(status))
    return document


def _api_class() -> type:
    from ninja import NinjaAPI

    class TenantryNinjaAPI(NinjaAPI):
        def get_openapi_schema(self, **kwargs: Any) -> Any:
            return complete_error_responses(super().get_openapi_schema(**kwargs))

    return TenantryNinjaAPI


TenantryNinjaAPI = _api_class()
