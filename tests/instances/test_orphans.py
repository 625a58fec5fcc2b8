"""Resources labelled with this installation but owned by no live instance (instances/orphans.py).

Those of an instance the database does not know (after a control-plane restore: created since
the backup, with their customers' data) are marked and only removed after the grace period; those
of a deleted instance, or naming no instance, go at once. Real Docker."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from tenantry.instances import services
from tenantry.instances.deployment import build_deployment
from tenantry.instances.models import Operation, Status
from tenantry.instances.reconciler import reconcile
from tenantry.routing.registry import routing
from tenantry.runtime.models import OrphanResource
from tests.conftest import installation_resources
from tests.instances.helpers import create, fresh
from tests.testenv import spare_network

pytestmark = [pytest.mark.docker, pytest.mark.traefik]


def _ghost(docker_client, name: str, subnet_index: int, instance_id: str | None = None) -> str:
    """A network, a volume and a container labelled as an instance of ours the database lacks (on
    a spare subnet of its own: see spare_subnet)."""
    ghost = instance_id or str(uuid.uuid4())
    prefix = f"{settings.TENANTRY['RESOURCE_PREFIX']}-{name}"
    labels = {"tenantry.installation": settings.TENANTRY["INSTALLATION_ID"], "tenantry.instance": ghost}
    spare_network(docker_client, prefix, subnet_index, labels=labels)
    docker_client.volumes.create(f"{prefix}-data", labels=labels)
    docker_client.containers.create("tenantry/hello:1", name=f"{prefix}-web", labels=labels, network=prefix)
    return ghost


def _age_marks(instance_ref: str, by: timedelta) -> None:
    for mark in OrphanResource.objects.filter(instance_ref=instance_ref):
        OrphanResource.objects.filter(pk=mark.pk).update(first_seen_at=mark.first_seen_at - by)


def test_an_unknown_instances_resources_are_marked_and_only_removed_after_the_grace_period(platform,
                                                                                          docker_client):
    keeper, _ = create("keeper")
    ghost = _ghost(docker_client, "ghost", 8)
    # a resource of another installation on the same engine must survive whatever happens
    foreign = docker_client.volumes.create(f"foreign-{uuid.uuid4().hex[:6]}",
                                           labels={"tenantry.installation": "someone-else",
                                                   "tenantry.instance": ghost})
    try:
        first = reconcile()
        # The first pass removes nothing of it (the old reconciler removed all three here).
        assert first.orphans_removed == []
        assert sorted(r.split(":")[0] for r in first.orphans_marked) == ["container", "network", "volume"]
        assert len(installation_resources(docker_client, ghost)) == 3
        marks = OrphanResource.objects.filter(instance_ref=ghost)
        assert sorted(marks.values_list("kind", flat=True)) == ["container", "network", "volume"]
        first_seen = {m.name: m.first_seen_at for m in marks}

        second = reconcile()  # still within the grace period: waits, first seen unchanged
        assert second.orphans_removed == [] and second.orphans_marked == []
        assert len(second.orphans_waiting) == 3 and "until" in second.orphans_waiting[0]
        assert {m.name: m.first_seen_at for m in OrphanResource.objects.filter(instance_ref=ghost)} == first_seen
        assert len(installation_resources(docker_client, ghost)) == 3

        _age_marks(ghost, timedelta(days=settings.TENANTRY["ORPHAN_GRACE_DAYS"], minutes=1))
        third = reconcile()
        assert sorted(r.split(":")[0] for r in third.orphans_removed) == ["container", "network", "volume"]
        assert installation_resources(docker_client, ghost) == []
        assert not OrphanResource.objects.filter(instance_ref=ghost).exists()
        assert len(installation_resources(docker_client, str(keeper.id))) == 3
        docker_client.volumes.get(foreign.name)  # still there
    finally:
        foreign.remove(force=True)


def test_leftovers_of_a_deleted_instance_and_unlabelled_probes_go_at_once(platform, docker_client):
    gone, _ = create("gone")
    services.instance_delete(instance=gone, actor="test")
    assert fresh(gone).status == Status.DELETED
    _ghost(docker_client, "gone-leftover", 9, instance_id=str(gone.id))  # e.g. a removal that failed
    probe = docker_client.containers.create(
        "tenantry/hello:1", name=f"{settings.TENANTRY['RESOURCE_PREFIX']}-probe",
        labels={"tenantry.installation": settings.TENANTRY["INSTALLATION_ID"]})  # a crash's image probe

    report = reconcile()

    assert sorted(report.orphans_removed) == sorted([
        f"container:{probe.name}", f"container:{settings.TENANTRY['RESOURCE_PREFIX']}-gone-leftover-web",
        f"network:{settings.TENANTRY['RESOURCE_PREFIX']}-gone-leftover",
        f"volume:{settings.TENANTRY['RESOURCE_PREFIX']}-gone-leftover-data"])
    assert report.orphans_marked == [] and not OrphanResource.objects.exists()
    assert installation_resources(docker_client, str(gone.id)) == []


def test_a_mark_goes_when_its_instance_is_known_again(platform, docker_client):
    """A newer control-plane backup restored: the instance is back, its resources are its own."""
    instance, _ = create("returning")
    reconcile()
    assert not OrphanResource.objects.exists()
    # Marked while the database did not know it (restored from an older backup)...
    OrphanResource.objects.create(server=instance.server, kind="volume", name=build_deployment(instance).volumes[0],
                                  instance_ref=str(instance.id), first_seen_at=instance.created_at)
    report = reconcile()
    assert report.orphans_removed == [] and report.orphans_waiting == []
    assert not OrphanResource.objects.exists()  # ...the mark is dropped, never acted on
    assert len(installation_resources(docker_client, str(instance.id))) == 3


def test_dry_run_reports_what_a_pass_would_do_and_does_none_of_it(platform, docker_client):
    instance, _ = create("drifted")
    docker_client.containers.get(build_deployment(instance).container("web").name).remove(force=True)
    ghost = _ghost(docker_client, "dry-ghost", 10)
    routing().unpublish(str(instance.id))  # as if its route file had been lost
    operations = Operation.objects.count()

    out = io.StringIO()
    call_command("reconcile", "--dry-run", stdout=out)

    printed = out.getvalue()
    assert printed.startswith("Dry run: nothing was queued, written or removed."), printed
    assert "would heal (start): ['drifted']" in printed
    assert "would mark orphans (removed 7 days later): ['" in printed and "-dry-ghost-data" in printed
    assert f"would publish routes: ['{instance.id}']" in printed
    # Nothing done: no operation, no mark, the container still gone, the ghost intact, no route file.
    assert Operation.objects.count() == operations
    assert not OrphanResource.objects.exists()
    assert len(installation_resources(docker_client, str(instance.id))) == 2  # network + volume
    assert len(installation_resources(docker_client, ghost)) == 3
    assert routing().current(str(instance.id)) is None

    report = reconcile()  # the real pass does what the dry run said
    assert report.healed == ["drifted"] and len(report.orphans_marked) == 3
    assert routing().current(str(instance.id)) is not None


def test_an_operator_lists_keeps_and_purges_an_unknown_instances_resources(platform, docker_client):
    create("resident")  # the server the reconciler reads is made with the first instance
    kept = _ghost(docker_client, "kept", 11)
    purged = _ghost(docker_client, "purged", 12)
    reconcile()

    out = io.StringIO()
    call_command("orphans", "list", stdout=out)
    listing = out.getvalue()
    assert kept in listing and purged in listing and "removed after" in listing

    call_command("orphans", "keep", kept, stdout=io.StringIO())
    _age_marks(kept, timedelta(days=365))
    _age_marks(purged, timedelta(hours=1))
    out = io.StringIO()
    call_command("orphans", "list", stdout=out)
    assert "kept by cli" in out.getvalue()
    report = reconcile()
    assert report.orphans_removed == [] and len(report.orphans_kept) == 3  # kept outlives the grace period
    assert len(installation_resources(docker_client, kept)) == 3

    with pytest.raises(CommandError, match="--yes"):
        call_command("orphans", "purge", purged, stdout=io.StringIO())
    assert len(installation_resources(docker_client, purged)) == 3
    out = io.StringIO()
    call_command("orphans", "purge", purged, "--yes", stdout=out)
    assert out.getvalue().count("removed ") == 3
    assert installation_resources(docker_client, purged) == []
    assert not OrphanResource.objects.filter(instance_ref=purged).exists()
    with pytest.raises(CommandError, match="orphan_not_found"):
        call_command("orphans", "purge", purged, "--yes", stdout=io.StringIO())
