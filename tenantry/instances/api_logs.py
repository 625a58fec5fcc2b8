"""An instance's app logs over REST: the latest lines (`tail`), one service or all, and a long
poll to follow them (`after` = the previous answer's cursor, `wait` = seconds to wait for new
lines). Scoped to the API key's team: another team's instance is a 404."""

from __future__ import annotations

from datetime import UTC, datetime

from django.http import HttpRequest
from ninja import Query, Router, Schema
from pydantic import Field

from tenantry.api.auth import access_of
from tenantry.instances import app_logs, selectors
from tenantry.instances.schemas import AppLogsOut, ErrorOut
from tenantry.runtime.backends.base import MAX_LOG_LINES

router = Router(tags=["instances"])


class LogsQuery(Schema):
    service: str | None = Field(default=None, max_length=63, description="Only this service's lines")
    tail: int = Field(default=app_logs.DEFAULT_TAIL, ge=1, le=MAX_LOG_LINES, description="At most this many lines")
    after: str | None = Field(default=None, max_length=20, description="A cursor from an earlier answer")
    wait: float = Field(default=0, ge=0, le=app_logs.MAX_WAIT_SECONDS, allow_inf_nan=False,
                        description="Seconds to wait for new lines when there are none yet (follow)")


@router.get("/instances/{ref}/logs", response={200: AppLogsOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut,
                                               503: ErrorOut},
            summary="An instance's app logs (tail, follow with after + wait)")
def instance_logs(request: HttpRequest, ref: str, query: Query[LogsQuery]) -> dict:
    access = access_of(request)
    access.require("instance.view")
    instance = selectors.instance_get(team=access.team, ref=ref)
    logs = app_logs.instance_app_logs(team=access.team, instance=instance, service=query.service, tail=query.tail,
                                      after=query.after, wait=query.wait)
    return {"services": list(logs.services), "cursor": logs.cursor, "lines": [
        {"service": line.service, "text": line.text,
         "at": datetime.fromtimestamp(line.at_ns / 1_000_000_000, tz=UTC)} for line in logs.lines]}
