from django.urls import path, re_path

from tenantry.edge import views

urlpatterns = [
    path("<uuid:instance_id>", views.instance_edge),
    path("<uuid:instance_id>/_tenantry/login", views.admin_login),
    re_path(r"^(?P<instance_id>[0-9a-f-]{36})/(?P<rest>.*)$", views.instance_edge),
]
