"""The team's audit trail over REST (JSON pages, or CSV): owners' and API keys' view of it."""


from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from ninja import Query, Router
from ninja.pagination import paginate

from tenantry.api.auth import access_of
from tenantry.api.pagination import BoundedPagination
from tenantry.core.errors import NotFound
from tenantry.core.models import AuditEvent
from tenantry.instances.schemas import ErrorOut
from tenantry.privacy import selectors
from tenantry.privacy.schemas import AuditEventOut, AuditFilterIn
from tenantry.privacy.services.audit import audit_csv

router = Router(tags=["audit"])
ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}


def _filter(filters: AuditFilterIn) -> selectors.AuditFilter:
    return selectors.AuditFilter(**filters.dict())


@router.get("", response=list[AuditEventOut], summary="The team's audit trail, newest first (paginated)")
@paginate(BoundedPagination)
def list_audit(request: HttpRequest, filters: Query[AuditFilterIn]) -> QuerySet[AuditEvent]:
    access = access_of(request)
    access.require("audit.view")
    return selectors.team_audit_trail(team=access.team, flt=_filter(filters))


@router.get("/export.csv", summary="The team's audit trail as CSV (same filters)",
            response={200: None, **ERRORS}, openapi_extra={
                "responses": {200: {"description": "CSV", "content": {"text/csv": {"schema": {"type": "string"}}}}}})
def export_audit(request: HttpRequest, filters: Query[AuditFilterIn]) -> StreamingHttpResponse:
    access = access_of(request)
    access.require("audit.view")
    rows = selectors.team_audit_trail(team=access.team, flt=_filter(filters)).iterator(chunk_size=500)
    response = StreamingHttpResponse(audit_csv(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-{access.team.slug}.csv"'
    return response


@router.get("/{event_id}", response={200: AuditEventOut, **ERRORS}, summary="One audit entry")
def show_audit(request: HttpRequest, event_id: int) -> AuditEvent:
    access = access_of(request)
    access.require("audit.view")
    row = selectors.team_audit_event(team=access.team, event_id=event_id)
    if row is None:
        raise NotFound("No audit entry with this id in this team.", code="audit_event_not_found")
    return row
