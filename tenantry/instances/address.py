"""The app's own idea of its address. Settings that hold an app's public URL (n8n's WEBHOOK_URL,
N8N_HOST, WordPress's WP_HOME…) name `{{ instance.public_url }}` / `public_host` in its spec: the
first verified custom domain, else the instance's own host, with the installation's scheme. When
that changes (tenantry.routing.services: a domain verified or removed) a running instance is
redeployed in place: `create_containers` recreates the containers whose settings changed (their
config digest), volumes kept, then boots them; the proxy holds requests at the edge meanwhile. A
stopped, hibernated or suspended instance is marked `settings_stale` and takes the new address
when it next starts or wakes (START recreates changed containers; WAKE does when marked)."""

from __future__ import annotations

from django.db import transaction

from tenantry.core.audit import audit_log
from tenantry.instances.models import Instance, Operation, OperationKind, Status
from tenantry.instances.services import queue_operation


def instance_readdress(*, instance_id: str, actor: str) -> Operation | None:
    """Queue the redeployment that gives a running app its new public address. Raises
    OperationInProgress while another operation runs (the caller, a queue task, retries)."""
    with transaction.atomic():
        instance = Instance.objects.select_for_update().filter(pk=instance_id).first()
        # Not deployed yet: provisioning renders the new address anyway.
        if instance is None or not instance.subnet or instance.provisioned_at is None:
            return None
        if instance.status != Status.RUNNING:
            # Hibernated, stopped or suspended: the containers are recreated when it next runs
            # (WAKE's refresh step; START re-ensures them anyway).
            Instance.objects.filter(pk=instance.pk).update(settings_stale=True)
            return None
        operation = queue_operation(instance, OperationKind.READDRESS, actor)
        audit_log(actor=actor, action="instance.readdress", target=instance, data={"operation": str(operation.id)})
        return operation
