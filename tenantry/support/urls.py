from django.urls import path

from tenantry.support.views import customer, inbound, staff

app_name = "support"

urlpatterns = [
    path("webhooks/support/inbound", inbound.inbound_webhook, name="inbound_webhook"),
    path("operator/support/", staff.queue, name="operator_queue"),
    path("operator/support/attachments/<uuid:attachment_id>/", staff.attachment, name="operator_attachment"),
    path("operator/support/<uuid:ticket_id>/", staff.ticket, name="operator_ticket"),
    path("operator/support/<uuid:ticket_id>/<str:action>/", staff.ticket_action, name="operator_ticket_action"),
    path("t/<slug:team_slug>/support/", customer.tickets, name="tickets"),
    path("t/<slug:team_slug>/support/new/", customer.ticket_new, name="ticket_new"),
    path("t/<slug:team_slug>/support/<uuid:ticket_id>/", customer.ticket, name="ticket"),
    path("t/<slug:team_slug>/support/<uuid:ticket_id>/status/", customer.ticket_status, name="ticket_status"),
    path("t/<slug:team_slug>/support/<uuid:ticket_id>/attachments/<uuid:attachment_id>/", customer.attachment,
         name="attachment"),
]
