from __future__ import annotations

from datetime import datetime

from ninja import Field, Schema


class WorkflowOut(Schema):
    id: str
    name: str
    active: bool
    triggers: list[str]
    updated_at: datetime | None = None


class RunOut(Schema):
    workflow_id: str
    execution_id: str | None = Field(description="The app's execution id when it tells it at once")
    how: str


class ExecutionOut(Schema):
    id: str = Field(alias="external_id")
    workflow_id: str
    workflow_name: str
    status: str
    mode: str
    started_at: datetime | None
    stopped_at: datetime | None
    duration_ms: int | None


class UsageOut(Schema):
    executions_this_month: int
    executions_limit: int | None = Field(description="The plan's executions / month, when it sets one")
    month_start: datetime


class InputsIn(Schema):
    inputs: dict[str, str] = Field(description="New values for some of the app's inputs (e.g. a rotated API key)")


class AdminLoginOut(Schema):
    url: str
    login: str
    password: str


class LoginLinkOut(Schema):
    url: str = Field(description="Open within a minute, once: signs you in to the app on its own address")


class ScheduleOut(Schema):
    workflow_id: str
    workflow_name: str
    node: str
    expressions: list[str] = Field(description="Cron expressions (5 fields, or 6 with seconds first)")
    time_zone: str
    next_fire_at: datetime | None = Field(description="When the app runs it next (Tenantry wakes a hibernated "
                                                      "instance ahead of it)")
    error: str


class WordPressConnectIn(Schema):
    """Either one of the team's WordPress instances, or a site elsewhere with its credential."""

    wordpress_instance: str | None = Field(default=None, description="Slug or id of the team's WordPress instance")
    url: str | None = Field(default=None, description="Address of a WordPress site elsewhere (https://…)")
    username: str | None = Field(default=None, description="Its WordPress user name")
    app_password: str | None = Field(default=None, description="An application password of that user "
                                     "(WordPress: Users → Profile → Application Passwords); never shown back")


class WordPressConnectionOut(Schema):
    url: str
    username: str
    wordpress_instance: str | None = Field(description="Slug of the team's WordPress instance, when it is one")
    verified_at: datetime

    @staticmethod
    def resolve_wordpress_instance(obj) -> str | None:
        return obj.wordpress_instance.slug if obj.wordpress_instance_id else None
