"""Django's own 404 and 500 pages, answered in the API's error shape under /api/: a client of the
API gets JSON for a mistyped path or an error outside any API view (a middleware), never HTML."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

API_PREFIX = "/api/"


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"code": "not_found", "message": "No such API endpoint.", "details": {}}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"code": "internal_error", "message": "Something went wrong on our side; it has been "
                             "logged.", "details": {}}, status=500)
    return defaults.server_error(request)
