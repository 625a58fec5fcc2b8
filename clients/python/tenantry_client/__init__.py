"""Python client for the Tenantry REST API."""

from tenantry_client.client import Tenantry
from tenantry_client.errors import ApiError, NotFound, RateLimited, TenantryError
from tenantry_client.models import (
    ApiKey,
    App,
    AuditEvent,
    Instance,
    InstanceCreated,
    Invitation,
    Member,
    Operation,
    Page,
    Team,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEndpointCreated,
)
from tenantry_client.webhooks import WebhookVerificationError, verify_webhook

__all__ = ["ApiError", "ApiKey", "App", "AuditEvent", "Instance", "InstanceCreated", "Invitation", "Member",
           "NotFound", "Operation", "Page", "RateLimited", "Team", "Tenantry", "TenantryError", "WebhookDelivery",
           "WebhookEndpoint", "WebhookEndpointCreated", "WebhookVerificationError", "verify_webhook"]
