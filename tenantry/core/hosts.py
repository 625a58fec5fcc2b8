"""Which host a request is for: the control plane's own (ALLOWED_HOSTS), or a tenant's address.

The proxy forwards requests for instances that are not running (and `/_tenantry/` on every
instance's address) to this process with the visitor's Host intact. Those reach the edge's URLs
only, before any session, CSRF, authentication or dashboard code runs; the dashboard, API,
admin and account pages never answer a tenant's address. That keeps ALLOWED_HOSTS to the
control plane's hosts, so nothing builds a link, accepts a `next` redirect or trusts an origin
from a tenant's (customer-controlled) address.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotFound
from django.http.request import split_domain_port, validate_host
from django.urls import Resolver404, resolve
from django.utils import translation

EDGE_URLCONF = "tenantry.urls_edge"


def is_tenant_host(host: str) -> bool:
    """`<label>.<base domain>` that is not one of the control plane's own hosts."""
    domain, _ = split_domain_port(host)
    suffix = "." + settings.TENANTRY["BASE_DOMAIN"]
    return bool(domain) and domain.endswith(suffix) and not validate_host(domain, settings.ALLOWED_HOSTS)


class TenantHostMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_tenant_host(request.META.get("HTTP_HOST", "")):
            return self.get_response(request)  # the control plane's (or refused as a bad host)
        try:
            match = resolve(request.path_info, urlconf=EDGE_URLCONF)
        except Resolver404:
            return HttpResponseNotFound(b"Not found", content_type="text/plain")
        with translation.override(translation.get_language_from_request(request)):
            try:
                return match.func(request, *match.args, **match.kwargs)
            except Http404:
                return HttpResponseNotFound(b"Not found", content_type="text/plain")
