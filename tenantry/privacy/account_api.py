"""A person's own data over REST (a dashboard session: this is about a person, not a team's
key): download it all, erase the account. Staff may export anyone's; anyone else's is a 404."""

from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema

from tenantry.accounts.models import User
from tenantry.accounts.services.invitations import invitation_accept
from tenantry.accounts.services.profile import profile_update
from tenantry.api.auth import SessionThenCsrfAuth
from tenantry.core.errors import NotFound, ValidationError
from tenantry.instances.schemas import ErrorOut
from tenantry.privacy.services.erase import user_erase
from tenantry.privacy.services.export import user_data_export

router = Router(tags=["account"], auth=SessionThenCsrfAuth())
ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}
_ZIP = {200: {"description": "A zip: data.json and invoices/*.pdf",
              "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}}}


class ProfileOut(Schema):
    email: str
    first_name: str
    last_name: str
    language: str


class ProfilePatch(Schema):
    first_name: str | None = Field(None, max_length=150)
    last_name: str | None = Field(None, max_length=150)
    language: str | None = Field(None, max_length=8, description="`en`, `fr`, or empty: follow the browser")


class JoinedOut(Schema):
    team: str
    role: str


class EraseIn(Schema):
    confirm: str


class ErasedOut(Schema):
    erased: bool
    teams_deleted: list[str]


def _zip(user: User) -> HttpResponse:
    response = HttpResponse(user_data_export(user=user), content_type="application/zip")
    response["Content-Disposition"] = 'attachment; filename="tenantry-data.zip"'
    return response


@router.get("/export", response={200: None, **ERRORS}, summary="All my data (zip)",
            openapi_extra={"responses": _ZIP})
def export_mine(request: HttpRequest) -> HttpResponse:
    return _zip(request.auth)  # type: ignore[attr-defined]


@router.get("/users/{user_id}/export", response={200: None, **ERRORS}, summary="A person's data (staff; or mine)",
            openapi_extra={"responses": _ZIP})
def export_user(request: HttpRequest, user_id: int) -> HttpResponse:
    caller: User = request.auth  # type: ignore[attr-defined]
    target = User.objects.filter(pk=user_id).first() if (caller.pk == user_id or caller.is_staff) else None
    if target is None:
        raise NotFound("No such user.", code="user_not_found")
    return _zip(target)


@router.post("/erase", response={200: ErasedOut, **ERRORS}, summary="Erase my account (type my email to confirm)")
def erase_mine(request: HttpRequest, payload: EraseIn) -> dict:
    user: User = request.auth  # type: ignore[attr-defined]
    if payload.confirm.strip().lower() != user.email.lower():
        raise ValidationError("Send your email address as `confirm`.", details={"field": "confirm"})
    result = user_erase(user=user, actor=f"user:{user.email}")
    logout(request)
    return {"erased": True, "teams_deleted": result.teams_deleted}


@router.get("/profile", response={200: ProfileOut, **ERRORS}, summary="My profile")
def get_profile(request: HttpRequest) -> User:
    return request.auth  # type: ignore[attr-defined]


@router.patch("/profile", response={200: ProfileOut, **ERRORS}, summary="Change my name or language")
def patch_profile(request: HttpRequest, payload: ProfilePatch) -> User:
    user: User = request.auth  # type: ignore[attr-defined]
    return profile_update(user=user, **payload.dict(exclude_none=True))


@router.post("/invitations/{token}/accept", response={200: JoinedOut, **ERRORS},
             summary="Join a team with the token of an invitation sent to my address")
def accept_invitation(request: HttpRequest, token: str) -> dict:
    membership = invitation_accept(token=token, user=request.auth)  # type: ignore[attr-defined]
    return {"team": membership.team.slug, "role": membership.role}
