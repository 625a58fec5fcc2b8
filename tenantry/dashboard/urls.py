from django.urls import path

from tenantry.dashboard.views import account, billing, billing_checkout, instances, team

app_name = "dashboard"

urlpatterns = [
    path("", account.home, name="home"),
    path("account/", account.account, name="account"),
    path("teams/new/", account.team_new, name="team_new"),
    path("teams/<slug:team_slug>/switch/", account.switch_team, name="switch_team"),
    path("operator/", account.operator, name="operator"),
    path("operator/billing/", billing.operator_billing, name="operator_billing"),
    path("operator/billing/invoices/<uuid:invoice_id>/mark-paid/", billing.operator_mark_paid,
         name="operator_mark_paid"),
    path("invitations/<str:token>/", team.invitation, name="invitation"),
    path("t/<slug:team_slug>/", instances.overview, name="overview"),
    path("t/<slug:team_slug>/instances/new/", instances.create, name="instance_create"),
    path("t/<slug:team_slug>/instances/<str:ref>/", instances.detail, name="instance"),
    path("t/<slug:team_slug>/instances/<str:ref>/progress/", instances.progress, name="instance_progress"),
    path("t/<slug:team_slug>/instances/<str:ref>/delete/", instances.delete, name="instance_delete"),
    path("t/<slug:team_slug>/instances/<str:ref>/<str:name>/", instances.action, name="instance_action"),
    path("t/<slug:team_slug>/team/", team.team, name="team"),
    path("t/<slug:team_slug>/team/members/<uuid:membership_id>/role/", team.member_role, name="member_role"),
    path("t/<slug:team_slug>/team/members/<uuid:membership_id>/remove/", team.member_remove, name="member_remove"),
    path("t/<slug:team_slug>/team/invitations/<uuid:invitation_id>/cancel/", team.invitation_cancel,
         name="invitation_cancel"),
    path("t/<slug:team_slug>/api-keys/", team.api_keys, name="api_keys"),
    path("t/<slug:team_slug>/api-keys/<str:prefix>/revoke/", team.api_key_delete, name="api_key_revoke"),
    path("t/<slug:team_slug>/billing/", billing.billing, name="billing"),
    path("t/<slug:team_slug>/billing/plans/", billing_checkout.plans, name="billing_plans"),
    path("t/<slug:team_slug>/billing/invoices/<uuid:invoice_id>/pay/", billing_checkout.pay, name="billing_pay"),
    path("t/<slug:team_slug>/billing/invoices/<uuid:invoice_id>/pdf/", billing.invoice_pdf, name="billing_invoice_pdf"),
    path("t/<slug:team_slug>/billing/payments/<uuid:payment_id>/", billing_checkout.payment, name="billing_payment"),
    path("t/<slug:team_slug>/billing/payments/<uuid:payment_id>/status/", billing_checkout.payment_status,
         name="billing_payment_status"),
    path("t/<slug:team_slug>/billing/payments/<uuid:payment_id>/cancel/", billing_checkout.payment_cancel_view,
         name="billing_payment_cancel"),
    path("t/<slug:team_slug>/billing/addons/buy/", billing.addon_buy_view, name="billing_addon_buy"),
    path("t/<slug:team_slug>/billing/addons/<uuid:purchase_id>/cancel/", billing.addon_cancel_view,
         name="billing_addon_cancel"),
]
