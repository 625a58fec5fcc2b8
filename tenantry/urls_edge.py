"""The only URLs a tenant's address reaches on this process: the edge (TenantHostMiddleware)."""

from django.urls import include, path

urlpatterns = [
    path("_edge/", include("tenantry.edge.urls")),
]
