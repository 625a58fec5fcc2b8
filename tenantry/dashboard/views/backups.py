"""The instance page's backups panel: back up now, the list with size and age, download,
restore in place, restore to a new instance. Each action is an operation shown live on the page."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tenantry.accounts.access import Access
from tenantry.backups import selectors as backup_selectors
from tenantry.backups import services as backups
from tenantry.backups.download import download_name, download_size, download_stream
from tenantry.backups.drills import drill_start
from tenantry.core.errors import ApplicationError
from tenantry.dashboard.context import with_team
from tenantry.instances import selectors

LISTED = 20


def _back(access: Access, slug: str) -> HttpResponse:
    return redirect("dashboard:instance", team_slug=access.team.slug, ref=slug)


@with_team("instance.view")
def panel(request: HttpRequest, access: Access, ref: str) -> HttpResponse:
    instance = selectors.instance_get(team=access.team, ref=ref)
    return render(request, "dashboard/_backups.html", {
        "access": access, "instance": instance,
        "backups": backup_selectors.backup_list(team=access.team, instance=instance)[:LISTED],
        "can_create": access.allows("backup.create"), "can_restore": access.allows("backup.restore"),
        "can_download": access.allows("backup.download"),
        **backup_selectors.drill_summary(team=access.team, instance=instance),
    })


@require_POST
@with_team("backup.create")
def drill(request: HttpRequest, access: Access, ref: str) -> HttpResponse:
    instance = selectors.instance_get(team=access.team, ref=ref)
    try:
        drill_start(team=access.team, instance=instance, actor=access.actor)
        messages.success(request, _("Testing a restore of %(name)s's latest backup in a scratch copy.")
                         % {"name": instance.slug})
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return _back(access, instance.slug)


@require_POST
@with_team("backup.create")
def create(request: HttpRequest, access: Access, ref: str) -> HttpResponse:
    instance = selectors.instance_get(team=access.team, ref=ref)
    try:
        backups.backup_create(instance=instance, actor=access.actor)
        messages.success(request, _("Backing up %(name)s.") % {"name": instance.slug})
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return _back(access, instance.slug)


@with_team("backup.download")
def download(request: HttpRequest, access: Access, backup_id: str) -> HttpResponseBase:
    backup = backup_selectors.backup_get(team=access.team, backup_id=backup_id)
    if not backup.is_restorable:
        messages.error(request, _("This backup is not complete: nothing to download."))
        return _back(access, backup.instance_slug)
    response = StreamingHttpResponse(download_stream(backup), content_type="application/x-tar")
    response["Content-Length"] = str(download_size(backup))
    response["Content-Disposition"] = f'attachment; filename="{download_name(backup)}"'
    return response


@require_POST
@with_team("backup.restore")
def restore(request: HttpRequest, access: Access, ref: str, backup_id: str) -> HttpResponse:
    instance = selectors.instance_get(team=access.team, ref=ref)
    backup = backup_selectors.backup_get(team=access.team, backup_id=backup_id)
    try:
        backups.backup_restore(instance=instance, backup=backup, actor=access.actor)
        messages.success(request, _("Restoring %(name)s; a safety backup is taken first.") % {"name": instance.slug})
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return _back(access, instance.slug)


@require_POST
@with_team("backup.restore")
def clone(request: HttpRequest, access: Access, backup_id: str) -> HttpResponse:
    backup = backup_selectors.backup_get(team=access.team, backup_id=backup_id)
    if not access.allows("instance.create"):
        messages.error(request, _("You may not create instances."))
        return _back(access, backup.instance_slug)
    try:
        instance, _operation = backups.backup_clone(team=access.team, backup=backup,
                                                    slug=request.POST.get("slug", ""), actor=access.actor)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return _back(access, backup.instance_slug)
    return _back(access, instance.slug)
