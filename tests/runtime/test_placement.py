"""Subnet allocation: unique per server, never overlapping a network the engine already has."""

from __future__ import annotations

import ipaddress

import pytest

from tenantry.accounts.services.teams import operator_team
from tenantry.core.errors import ApplicationError
from tenantry.instances.models import Instance
from tenantry.runtime.models import Server
from tenantry.runtime.placement import default_server, free_subnet, place_instance, subnet_pool


@pytest.mark.django_db
def test_a_thousand_instances_get_distinct_subnets(settings):
    settings.TENANTRY = {**settings.TENANTRY, "SUBNET_POOL": "172.31.0.0/16", "SUBNET_PREFIX": 27}
    assert len(subnet_pool()) == 2048
    server = default_server()
    taken = ["172.17.0.0/16", "172.31.0.0/24"]  # docker0, and someone's network inside our pool
    subnets = []
    for index in range(1000):
        subnet = free_subnet(server, taken_on_host=taken)
        Instance.objects.create(team=operator_team(), slug=f"s{index:04d}", app="hello", server=server, subnet=subnet,
                                memory_mb=64,
                                cpus=0.25, pids=64)
        subnets.append(ipaddress.ip_network(subnet))
    assert len(set(subnets)) == 1000
    assert not any(s.overlaps(ipaddress.ip_network("172.31.0.0/24")) for s in subnets)
    assert all(s.prefixlen == 27 and s.subnet_of(ipaddress.ip_network("172.31.0.0/16")) for s in subnets)


@pytest.mark.django_db
def test_exhausted_pool_and_full_servers_are_clear_errors(settings):
    settings.TENANTRY = {**settings.TENANTRY, "SUBNET_POOL": "172.31.7.0/26", "SUBNET_PREFIX": 27}
    server = default_server()
    for index in range(2):
        Instance.objects.create(team=operator_team(), slug=f"p{index}", app="hello", server=server,
                                subnet=free_subnet(server),
                                memory_mb=64, cpus=0.25, pids=64)
    with pytest.raises(ApplicationError) as caught:
        free_subnet(server)
    assert caught.value.code == "no_capacity" and "exhausted" in caught.value.message
    assert "instances hold 2 of its 2 subnets" in caught.value.message
    assert "overlap" not in caught.value.message  # nothing else is in the way
    Server.objects.filter(pk=server.pk).update(capacity=2)
    with pytest.raises(ApplicationError, match="Every server is full"):
        place_instance()
    roomy = Server.objects.create(name="second", capacity=10)
    assert place_instance() == roomy


@pytest.mark.django_db
def test_a_network_docker_gave_a_whole_default_pool_is_named_when_it_blocks_the_pool(settings, caplog):
    """A network created without a subnet gets a whole /16 of Docker's default address pools
    (172.17-31.0.0/16); when that /16 is ours, every create fails: the error says which network
    is in the way instead of only "exhausted"."""
    settings.TENANTRY = {**settings.TENANTRY, "SUBNET_POOL": "172.27.0.0/16", "SUBNET_PREFIX": 27}
    server = default_server()
    with pytest.raises(ApplicationError) as caught:
        free_subnet(server, taken_on_host=["172.17.0.0/16", "172.27.0.0/16", "fd00::/64"])
    message = caught.value.message
    assert "instances hold 0 of its 2048 subnets" in message and "1 other network(s)" in message
    assert "172.27.0.0/16" not in message.replace("pool 172.27.0.0/16", "")  # the host's networks: in the log
    [record] = [r.getMessage() for r in caplog.records if "placement.pool_blocked" in r.getMessage()]
    assert "172.27.0.0/16" in record and "172.17.0.0/16" not in record


@pytest.mark.django_db
def test_the_engines_networks_are_skipped_whatever_their_size_and_order(settings):
    """free_subnet sorts the engine's networks once instead of checking each against each pool
    subnet: it must still skip exactly the subnets a brute-force overlap check skips."""
    import random

    settings.TENANTRY = {**settings.TENANTRY, "SUBNET_POOL": "10.77.0.0/20", "SUBNET_PREFIX": 27}
    server = default_server()
    pool = subnet_pool()
    chooser = random.Random(15)
    for _round in range(20):
        taken = [str(chooser.choice(pool)) for _ in range(chooser.randrange(0, 60))]
        # Wider and narrower ones, nested, unsorted, outside the pool and IPv6 (ignored).
        taken += [f"10.77.{chooser.randrange(16)}.0/{chooser.choice([22, 24, 28, 30])}" for _ in range(5)]
        taken += ["172.17.0.0/16", "10.76.255.0/24", "fd00::/64", "10.0.0.0/8"][:chooser.randrange(1, 4)]
        chooser.shuffle(taken)
        foreign = [ipaddress.ip_network(s, strict=False) for s in taken if ":" not in s]
        expected = next((str(s) for s in pool if not any(s.overlaps(o) for o in foreign)), None)
        if expected is None:
            with pytest.raises(ApplicationError):
                free_subnet(server, taken_on_host=taken)
        else:
            assert free_subnet(server, taken_on_host=taken) == expected, taken
