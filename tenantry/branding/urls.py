from django.urls import path

from tenantry.branding import views

app_name = "branding"

urlpatterns = [
    path("operator/brand/", views.operator_brand, name="operator_brand"),
    path("brand/logo/<str:name>", views.logo, name="logo"),
]
