"""URLs of the inbound webhooks, mounted at /webhooks/ (no session, no CSRF: signed instead)."""

from django.urls import path

from tenantry.billing import webhooks

app_name = "billing_webhooks"

urlpatterns = [
    path("lago", webhooks.lago_webhook, name="lago"),
    path("<slug:provider>", webhooks.provider_webhook, name="provider"),
]
