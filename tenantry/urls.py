from django.contrib import admin
from django.urls import include, path
from django.views.i18n import set_language

from tenantry.api.root import api

urlpatterns = [
    # Supervisors and Prometheus: /healthz, /readyz, /metrics (tenantry/ops).
    path("", include("tenantry.ops.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    # Support tickets: customer pages, the operators' queue, the inbound-mail webhook.
    path("", include("tenantry.support.urls")),
    path("webhooks/", include("tenantry.billing.webhook_urls")),
    # White label: the operator's brand page and the logo (tenantry/branding).
    path("", include("tenantry.branding.urls")),
    path("accounts/", include("allauth.urls")),
    path("i18n/setlang/", set_language, name="set_language"),
    path("", include("tenantry.dashboard.urls")),
]

# Under /api/ these answer in the API's error shape; elsewhere Django's own pages.
handler404 = "tenantry.api.fallbacks.not_found"
handler500 = "tenantry.api.fallbacks.server_error"
