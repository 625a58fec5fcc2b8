"""Cache volumes (`cache: true` in an app spec, n8n's ~/.cache): on disk rather than in memory,
neither backed up nor billed; and a volume an app's spec gained after an instance was made comes
with the instance's labels whichever step recreates its container (real Docker engine)."""

from __future__ import annotations

import pytest
from django.conf import settings

from tenantry.catalog.registry import get_app
from tenantry.runtime.backends.base import ContainerSpec, Deployment, ResourceLimits, VolumeMount
from tests.testenv import spare_subnet

pytestmark = [pytest.mark.docker]
SUBNET = spare_subnet(2)  # of this run's pool: a fixed one clashes between runs on one engine
_GATEWAY, _WEB = (str(host) for host in list(SUBNET.hosts())[:2])
MB = 1024 * 1024


def _deployment(*, with_cache: bool) -> Deployment:
    """An instance with its data volume; `with_cache`: as its spec is after gaining a cache volume."""
    prefix = f"{settings.TENANTRY['RESOURCE_PREFIX']}-cachevol"
    data, cache = f"{prefix}-data", f"{prefix}-cache"
    mounts = (VolumeMount(volume=data, path="/data"),)
    if with_cache:
        mounts += (VolumeMount(volume=cache, path="/cache"),)
    return Deployment(
        instance_id="cachevol", slug="cachevol", network=prefix, subnet=str(SUBNET), gateway=_GATEWAY,
        volumes=tuple(m.volume for m in mounts), cache_volumes=(cache,) if with_cache else (),
        containers=(ContainerSpec(
            service="web", name=f"{prefix}-web", image="tenantry/hello:1", ip=_WEB,
            limits=ResourceLimits(memory_mb=32, cpus=0.25, pids=32), command=("sleep", "600"), mounts=mounts),),
        entrypoint_service="web", entrypoint_port=8080,
    )


def test_a_volume_gained_since_the_instance_was_made_is_ours_when_a_wake_recreates_the_container(
        runtime, docker_client):
    """Wake, resize and update recreate containers without the volume step: the engine used to
    make the new volume itself, unlabelled, so the next start refused it as someone else's
    (name_conflict) and deleting the instance left it behind."""
    before = _deployment(with_cache=False)
    runtime.ensure_network(before)
    runtime.ensure_volumes(before)
    runtime.ensure_containers(before)
    after = _deployment(with_cache=True)
    cache = after.cache_volumes[0]
    try:
        assert runtime.ensure_containers(after) == [after.containers[0].name]  # as refresh_stale_containers does
        labels = docker_client.volumes.get(cache).attrs["Labels"] or {}
        assert labels.get("tenantry.instance") == after.instance_id
        runtime.ensure_volumes(after)  # the next START: no conflict
        runtime.start(after)
        written = runtime.exec(after, "web", ["sh", "-c", "echo x > /cache/file && cat /cache/file"])
        assert written.output.strip() == "x", written.output
    finally:
        runtime.remove_containers(after.instance_id)
        removed = runtime.remove_volumes(after.instance_id)
        leftover = [v.name for v in docker_client.volumes.list(filters={"name": cache}) if v.name == cache]
        for name in leftover:
            docker_client.volumes.get(name).remove(force=True)
        runtime.remove_network(after.instance_id)
    assert sorted(removed) == sorted(after.volumes)


def test_a_cache_volume_is_not_measured_as_the_customers_storage(runtime):
    deployment = _deployment(with_cache=True)
    runtime.ensure_network(deployment)
    runtime.ensure_volumes(deployment)
    runtime.ensure_containers(deployment)
    runtime.start(deployment)
    result = runtime.exec(deployment, "web", [
        "sh", "-c", "busybox dd if=/dev/zero of=/cache/assets bs=1048576 count=20 2>/dev/null && "
                    "busybox dd if=/dev/zero of=/data/mine bs=1048576 count=2 2>/dev/null && echo ok"])
    assert result.output.strip() == "ok", result.output
    measured = runtime.volume_usage()[deployment.instance_id]
    assert 2 * MB <= measured < 3 * MB  # the 2 MB of data, not the 20 MB of cache


def test_backups_hold_every_volume_but_caches_unless_the_spec_names_them():
    assert get_app("n8n").backed_up_volumes() == ["data"]
    assert get_app("n8n-postgres").backed_up_volumes() == ["data", "db", "dumps"]
    spec = get_app("n8n")
    assert [m.name for m in spec.services["main"].volumes if m.cache] == ["cache"]
    named = spec.model_copy(update={"backup": spec.backup.model_copy(update={"volumes": ["data", "cache"]})})
    assert named.backed_up_volumes() == ["data", "cache"]

