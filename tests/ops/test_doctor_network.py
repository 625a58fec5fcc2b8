"""`tenantry doctor`'s subnet-pool check on the real engine: a network that is no instance's
inside the pool is named (a warning while subnets are left, a failure once none is)."""

from __future__ import annotations

import pytest

from tenantry.ops.doctor import FAILURE, OK, WARNING, check_subnet_pool
from tests.testenv import spare_network, spare_subnet

pytestmark = [pytest.mark.docker]


@pytest.fixture()
def stranger(docker_client):
    """A network of someone else's, on a /27 of this run's pool."""
    subnet = spare_subnet(13)
    network = spare_network(docker_client, f"stranger-{subnet.network_address}", 13)
    yield str(subnet)
    network.remove()


def _finding():
    [finding] = list(check_subnet_pool())
    return finding


@pytest.mark.django_db
def test_a_pool_nobody_else_uses_is_ok_with_its_counts(docker_client):
    finding = _finding()
    assert finding.status == OK, finding.message
    assert "0 of its 2048 subnets held by instances, 2048 free" in finding.message
    assert "Docker's default address pools" not in finding.message  # the test pool lies outside them


@pytest.mark.django_db
def test_a_stranger_network_in_the_pool_is_named(stranger):
    finding = _finding()
    assert finding.status == WARNING and stranger in finding.message and "2047 free" in finding.message
    assert "TENANTRY_SUBNET_POOL" in finding.fix


@pytest.mark.django_db
def test_a_pool_a_stranger_covers_whole_is_a_failure(stranger, settings):
    settings.TENANTRY = {**settings.TENANTRY, "SUBNET_POOL": stranger, "SUBNET_PREFIX": 28}
    finding = _finding()
    assert finding.status == FAILURE and stranger in finding.message and ", 0 free" in finding.message


@pytest.mark.django_db
def test_a_pool_inside_dockers_default_pools_says_so(settings, monkeypatch):
    """Whatever this engine holds: its networks are read through a stand-in runtime here."""
    class Engine:
        def used_subnets(self) -> list[str]:
            return ["172.17.0.0/16", "fd00::/64"]

    monkeypatch.setattr("tenantry.runtime.registry.runtime_for", lambda server: Engine())
    settings.TENANTRY = {**settings.TENANTRY, "SUBNET_POOL": "172.30.0.0/16"}
    finding = _finding()
    assert finding.status == OK and "inside Docker's default address pools" in finding.message


@pytest.mark.django_db
def test_a_database_without_tables_is_a_warning_not_a_crash(monkeypatch):
    from django.db import DatabaseError

    def no_table(*args, **kwargs):
        raise DatabaseError("no such table: runtime_server")

    monkeypatch.setattr("tenantry.runtime.models.Server.objects.filter", no_table)
    finding = _finding()
    assert finding.status == WARNING and "no such table" in finding.message and "tenantry init" in finding.fix
