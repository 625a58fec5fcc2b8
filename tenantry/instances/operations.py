"""Operation plans (which steps make each kind) and creating an operation with its steps."""

from __future__ import annotations

from django.db import transaction

from tenantry.instances.models import Instance, Operation, OperationKind, Status, Step

STEP_TITLES: dict[str, str] = {
    "route_to_edge": "Point the address at Tenantry's status page",
    "check_images": "Check the app's images",
    "create_network": "Create the private network",
    "create_volumes": "Create the volumes",
    "create_containers": "Create the containers",
    "start_containers": "Start the containers",
    "wait_healthy": "Wait until the app answers",
    "post_provision": "Run the app's first-start tasks",
    "apply_inputs": "Update the app with the new settings",
    "rotate_credentials": "Replace the app's credentials",
    "publish_route": "Publish the address",
    "stop_containers": "Stop the containers",
    "stop_for_final_backup": "Stop the containers for the final backup",
    "unpublish_route": "Remove the address",
    "confirm_route_removed": "Check the address is no longer served",
    "remove_containers": "Remove the containers",
    "remove_volumes": "Remove the volumes",
    "remove_network": "Remove the private network",
    "final_backup": "Save a final backup (kept for the retention period)",
    "pre_update_backup": "Back up the instance before the update",
    # Backups (steps in tenantry/backups/steps.py, registered when that app loads).
    "run_backup_dumps": "Make the app's consistent copies (database dumps)",
    "save_backup": "Save the volumes, compressed and encrypted, to the backup target",
    "verify_backup": "Check the backup's checksums before touching anything",
    "safety_backup": "Take a safety backup of the current data",
    "restore_values": "Restore the instance's credentials from the backup",
    "restore_volumes": "Replace the volumes' data with the backup's",
    # Updates (steps in tenantry/updates/steps.py, registered when that app loads).
    "check_update_images": "Check the new version's images",
    "switch_version": "Switch to the new version's images",
    "finish_update": "Record the new version",
    "refresh_stale_containers": "Apply settings changed while the app slept",
    "restore_dumps": "Load the app's consistent copies (database dumps) from the backup",
}

_ENSURE = ["check_images", "create_network", "create_volumes", "create_containers"]
_BOOT = ["start_containers", "wait_healthy"]

PLANS: dict[str, list[str]] = {
    OperationKind.PROVISION: ["route_to_edge", *_ENSURE, *_BOOT, "post_provision", "publish_route"],
    # START also heals: every ensure step is cheap and idempotent when nothing is missing.
    OperationKind.START: [*_ENSURE, *_BOOT, "publish_route"],
    OperationKind.STOP: ["route_to_edge", "stop_containers"],
    OperationKind.RESTART: ["route_to_edge", "stop_containers", *_BOOT, "publish_route"],
    OperationKind.HIBERNATE: ["route_to_edge", "stop_containers"],
    OperationKind.WAKE: ["refresh_stale_containers", *_BOOT, "publish_route"],
    # The final backup is read from the stopped volumes (at rest: consistent without dumps); with
    # none to take, the containers are removed running (tenantry.backups.steps). The proxy
    # reloads without the route while the Docker steps run; only then is that confirmed.
    OperationKind.DELETE: ["unpublish_route", "stop_for_final_backup", "final_backup", "remove_containers",
                           "remove_volumes", "remove_network", "confirm_route_removed"],
    # While the app keeps serving: no downtime for a change of the customer's credentials.
    OperationKind.RECONFIGURE: ["apply_inputs"],
    OperationKind.ROTATE: ["rotate_credentials"],
    # RESIZE: create_containers recreates a container whose limits changed (config digest), then boots it.
    OperationKind.RESIZE: ["route_to_edge", "create_containers", *_BOOT, "publish_route"],
    # The app's public address changed (a custom domain verified or removed): the containers whose
    # settings hold it are recreated with the new values, volumes kept (tenantry.instances.address).
    OperationKind.READDRESS: ["route_to_edge", "create_containers", *_BOOT, "publish_route"],
    OperationKind.SUSPEND: ["route_to_edge", "stop_containers"],
    OperationKind.RESUME: [*_ENSURE, *_BOOT, "publish_route"],
    # Volumes stay (retention period); the final backup is taken from the stopped containers.
    OperationKind.ARCHIVE: ["route_to_edge", "stop_containers", "final_backup", "remove_containers",
                            "remove_network"],
    OperationKind.BACKUP: ["run_backup_dumps", "save_backup"],
    # Nothing is stopped until the backup proved intact; a failure after the data was replaced
    # puts the safety backup back (tenantry.backups.steps.restore_failed).
    OperationKind.RESTORE: ["verify_backup", "route_to_edge", "stop_containers", "safety_backup",
                            "restore_volumes", "restore_dumps", *_BOOT, "publish_route"],
    # A provisioning whose volumes are filled from a backup before the app first starts.
    OperationKind.CLONE: ["verify_backup", "restore_values", "route_to_edge", "check_images", "create_network",
                          "create_volumes", "restore_volumes", "create_containers", "restore_dumps", *_BOOT,
                          "publish_route"],
    # A failure after the switch rolls back by itself: the old images, and the pre-update backup
    # put back when the new version may have migrated the data (tenantry.updates.steps.update_failed).
    OperationKind.UPDATE: ["check_update_images", "route_to_edge", "pre_update_backup", "switch_version", *_BOOT,
                           "finish_update", "publish_route"],
}

# The step after which a running operation's app may be handed requests, before the operation
# ends (the proxy switches the route meanwhile): a request held at the edge goes to the app then
# (tenantry.edge.holding). A wake, start or restart brings back an app already set up: once it is
# healthy. A provisioning: once its first-start tasks ran (its setup page must not be reachable
# before). Other kinds (an update migrates, a restore loads data…) wait for the operation's end.
HANDOVER_AFTER_STEP: dict[str, str] = {
    OperationKind.WAKE: "wait_healthy",
    OperationKind.START: "wait_healthy",
    OperationKind.RESTART: "wait_healthy",
    OperationKind.PROVISION: "post_provision",
}

# Changes made while the app keeps serving: they neither move the instance's status nor, when
# they fail, take the app off the air.
IN_PLACE_KINDS = {OperationKind.RECONFIGURE, OperationKind.ROTATE, OperationKind.BACKUP}
# Operations that create an instance: when they fail before the app ever ran, what they made is removed.
CREATING_KINDS = {OperationKind.PROVISION, OperationKind.CLONE}

# Observed status while an operation of each kind runs, and after it succeeds.
STATUS_DURING: dict[str, str] = {
    OperationKind.PROVISION: Status.PROVISIONING,
    OperationKind.START: Status.STARTING,
    OperationKind.STOP: Status.STOPPING,
    OperationKind.RESTART: Status.STARTING,
    OperationKind.HIBERNATE: Status.STOPPING,
    OperationKind.WAKE: Status.WAKING,
    OperationKind.DELETE: Status.DELETING,
    OperationKind.RECONFIGURE: Status.RUNNING,
    OperationKind.ROTATE: Status.RUNNING,
    OperationKind.RESIZE: Status.STARTING,
    OperationKind.READDRESS: Status.STARTING,
    OperationKind.SUSPEND: Status.STOPPING,
    OperationKind.RESUME: Status.STARTING,
    OperationKind.ARCHIVE: Status.ARCHIVING,
    OperationKind.BACKUP: Status.RUNNING,
    OperationKind.RESTORE: Status.RESTORING,
    OperationKind.CLONE: Status.PROVISIONING,
    OperationKind.UPDATE: Status.UPDATING,
}
STATUS_AFTER: dict[str, str] = {
    OperationKind.PROVISION: Status.RUNNING,
    OperationKind.START: Status.RUNNING,
    OperationKind.STOP: Status.STOPPED,
    OperationKind.RESTART: Status.RUNNING,
    OperationKind.HIBERNATE: Status.HIBERNATED,
    OperationKind.WAKE: Status.RUNNING,
    OperationKind.DELETE: Status.DELETED,
    OperationKind.RECONFIGURE: Status.RUNNING,
    OperationKind.ROTATE: Status.RUNNING,
    OperationKind.RESIZE: Status.RUNNING,
    OperationKind.READDRESS: Status.RUNNING,
    OperationKind.SUSPEND: Status.SUSPENDED,
    OperationKind.RESUME: Status.RUNNING,
    OperationKind.ARCHIVE: Status.ARCHIVED,
    OperationKind.BACKUP: Status.RUNNING,
    OperationKind.RESTORE: Status.RUNNING,
    OperationKind.CLONE: Status.RUNNING,
    OperationKind.UPDATE: Status.RUNNING,
}


def create_operation(*, instance: Instance, kind: str, actor: str, state: dict | None = None) -> Operation:
    """Create an operation and its steps; the queue picks it up when the transaction commits.

    The database refuses a second active operation for the same instance (IntegrityError).
    """
    operation = Operation.objects.create(instance=instance, kind=kind, actor=actor, state=state or {})
    Step.objects.bulk_create([
        Step(operation=operation, position=position, name=name, title=STEP_TITLES[name])
        for position, name in enumerate(PLANS[kind], start=1)
    ])
    transaction.on_commit(lambda: enqueue_operation(str(operation.id)))
    return operation


def enqueue_operation(operation_id: str) -> None:
    from tenantry.instances.tasks import run_operation_task

    run_operation_task(operation_id)
