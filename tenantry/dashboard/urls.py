from django.urls import path

from tenantry.dashboard.views import account, instances, team, workflows

app_name = "dashboard"

urlpatterns = [
    path("", account.home, name="home"),
    path("account/", account.account, name="account"),
    path("teams/new/", account.team_new, name="team_new"),
    path("teams/<slug:team_slug>/switch/", account.switch_team, name="switch_team"),
    path("operator/", account.operator, name="operator"),
    path("invitations/<str:token>/", team.invitation, name="invitation"),
    path("t/<slug:team_slug>/", instances.overview, name="overview"),
    path("t/<slug:team_slug>/instances/new/", instances.create, name="instance_create"),
    path("t/<slug:team_slug>/instances/<str:ref>/", instances.detail, name="instance"),
    path("t/<slug:team_slug>/instances/<str:ref>/progress/", instances.progress, name="instance_progress"),
    path("t/<slug:team_slug>/instances/<str:ref>/delete/", instances.delete, name="instance_delete"),
    path("t/<slug:team_slug>/instances/<str:ref>/workflows/", workflows.panel, name="instance_workflows"),
    path("t/<slug:team_slug>/instances/<str:ref>/workflows/<str:workflow_id>/<str:name>/", workflows.workflow_action,
         name="workflow_action"),
    path("t/<slug:team_slug>/instances/<str:ref>/admin-login/", workflows.admin_login, name="instance_admin_login"),
    path("t/<slug:team_slug>/instances/<str:ref>/settings/", workflows.settings, name="instance_settings"),
    path("t/<slug:team_slug>/instances/<str:ref>/rotate/", workflows.rotate, name="instance_rotate"),
    path("t/<slug:team_slug>/instances/<str:ref>/<str:name>/", instances.action, name="instance_action"),
    path("t/<slug:team_slug>/team/", team.team, name="team"),
    path("t/<slug:team_slug>/team/members/<uuid:membership_id>/role/", team.member_role, name="member_role"),
    path("t/<slug:team_slug>/team/members/<uuid:membership_id>/remove/", team.member_remove, name="member_remove"),
    path("t/<slug:team_slug>/team/invitations/<uuid:invitation_id>/cancel/", team.invitation_cancel,
         name="invitation_cancel"),
    path("t/<slug:team_slug>/api-keys/", team.api_keys, name="api_keys"),
    path("t/<slug:team_slug>/api-keys/<str:prefix>/revoke/", team.api_key_delete, name="api_key_revoke"),
]
