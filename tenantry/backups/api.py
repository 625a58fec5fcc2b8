"""Backups over REST, scoped to the API key's team: another team's instance or backup is a 404."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from ninja import Router, Status
from ninja.pagination import paginate

from tenantry.api.auth import access_of
from tenantry.api.pagination import BoundedPagination
from tenantry.backups import selectors, services
from tenantry.backups.download import download_name, download_size, download_stream
from tenantry.backups.drills import drill_start
from tenantry.backups.models import Backup, RestoreDrill
from tenantry.backups.schemas import BackupCreatedOut, BackupOut, ClonedOut, CloneIn, DrillOut
from tenantry.backups.services import BackupNotRestorable
from tenantry.instances import selectors as instance_selectors
from tenantry.instances.api import ERRORS
from tenantry.instances.schemas import OperationOut

router = Router(tags=["backups"])


@router.get("/instances/{ref}/backups", response=list[BackupOut], summary="An instance's backups, newest first")
@paginate(BoundedPagination)
def list_backups(request: HttpRequest, ref: str) -> QuerySet[Backup]:
    access = access_of(request)
    access.require("instance.view")
    instance = instance_selectors.instance_get(team=access.team, ref=ref)
    return selectors.backup_list(team=access.team, instance=instance)


@router.post("/instances/{ref}/backups", response={202: BackupCreatedOut, **ERRORS}, summary="Back up now")
def create_backup(request: HttpRequest, ref: str) -> Status:
    access = access_of(request)
    access.require("backup.create")
    instance = instance_selectors.instance_get(team=access.team, ref=ref)
    backup, operation = services.backup_create(instance=instance, actor=access.actor)
    return Status(202, {"backup": selectors.backup_get(team=access.team, backup_id=str(backup.pk)),
                        "operation": instance_selectors.operation_get(team=access.team,
                                                                      operation_id=str(operation.pk))})


@router.get("/backups/{backup_id}", response={200: BackupOut, **ERRORS}, summary="Show a backup")
def show_backup(request: HttpRequest, backup_id: str) -> Backup:
    access = access_of(request)
    access.require("instance.view")
    return selectors.backup_get(team=access.team, backup_id=backup_id)


@router.get("/backups/{backup_id}/download", response={200: None, **ERRORS},
            summary="Download a backup (a tar of the volumes' tars and the manifest, streamed)")
def download_backup(request: HttpRequest, backup_id: str) -> StreamingHttpResponse:
    access = access_of(request)
    access.require("backup.download")
    backup = selectors.backup_get(team=access.team, backup_id=backup_id)
    if not backup.is_restorable:
        raise BackupNotRestorable(f"This backup is {backup.status}: nothing to download.")
    response = StreamingHttpResponse(download_stream(backup), content_type="application/x-tar")
    response["Content-Length"] = str(download_size(backup))
    response["Content-Disposition"] = f'attachment; filename="{download_name(backup)}"'
    return response


@router.post("/instances/{ref}/backups/{backup_id}/restore", response={202: OperationOut, **ERRORS},
             summary="Restore a backup in place (a safety backup is taken first and put back on failure)")
def restore_backup(request: HttpRequest, ref: str, backup_id: str) -> Status:
    access = access_of(request)
    access.require("backup.restore")
    instance = instance_selectors.instance_get(team=access.team, ref=ref)
    backup = selectors.backup_get(team=access.team, backup_id=backup_id)
    operation = services.backup_restore(instance=instance, backup=backup, actor=access.actor)
    return Status(202, instance_selectors.operation_get(team=access.team, operation_id=str(operation.pk)))


@router.post("/backups/{backup_id}/clone", response={202: ClonedOut, **ERRORS},
             summary="Restore a backup to a new instance")
def clone_backup(request: HttpRequest, backup_id: str, payload: CloneIn) -> Status:
    access = access_of(request)
    access.require("backup.restore")
    access.require("instance.create")
    backup = selectors.backup_get(team=access.team, backup_id=backup_id)
    instance, operation = services.backup_clone(team=access.team, backup=backup, actor=access.actor,
                                                **payload.dict())
    return Status(202, {"instance": instance_selectors.instance_get(team=access.team, ref=str(instance.pk)),
                        "operation": instance_selectors.operation_get(team=access.team,
                                                                      operation_id=str(operation.pk))})


@router.post("/instances/{ref}/backups/drills", response={202: DrillOut, **ERRORS},
             summary="Test a restore of the latest backup in a scratch instance (a restore drill)")
def start_drill(request: HttpRequest, ref: str) -> Status:
    access = access_of(request)
    access.require("backup.create")
    instance = instance_selectors.instance_get(team=access.team, ref=ref)
    drill = drill_start(team=access.team, instance=instance, actor=access.actor)
    return Status(202, RestoreDrill.objects.get(pk=drill.pk))


@router.get("/instances/{ref}/backups/drills", response=list[DrillOut],
            summary="An instance's restore drills, newest first")
@paginate(BoundedPagination)
def list_drills(request: HttpRequest, ref: str) -> QuerySet[RestoreDrill]:
    access = access_of(request)
    access.require("instance.view")
    instance = instance_selectors.instance_get(team=access.team, ref=ref)
    return selectors.drill_list(team=access.team, instance=instance)
