from django.contrib import admin
from django.urls import include, path

from tenantry.api.root import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("_edge/", include("tenantry.edge.urls")),
]
