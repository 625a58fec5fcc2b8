"""The reconciler heals drift between the database and Docker / the proxy."""

from __future__ import annotations

import pytest
from django.conf import settings

from tenantry.accounts.services.teams import operator_team
from tenantry.instances import reconciler, services
from tenantry.instances.deployment import build_deployment
from tenantry.instances.models import Instance, Operation, OperationKind, OperationStatus, Status
from tenantry.instances.reconciler import reconcile
from tenantry.routing.backends.traefik_files import shard_name
from tenantry.routing.registry import routing
from tenantry.runtime.placement import default_server
from tenantry.runtime.registry import runtime_for
from tests.conftest import installation_resources
from tests.instances.helpers import create, fresh, last_operation

pytestmark = [pytest.mark.docker, pytest.mark.traefik]


def test_container_removed_behind_our_back_comes_back(platform, docker_client):
    instance, _ = create("phoenix")
    platform.wait_for_body(instance.host, "boots: <code>1</code>")
    docker_client.containers.get(build_deployment(instance).container("web").name).remove(force=True)
    assert not runtime_for(instance.server).state(build_deployment(instance)).all_running

    report = reconcile()

    assert report.healed == ["phoenix"]
    heal = last_operation(instance)
    assert heal.kind == "start" and heal.actor == "reconciler" and heal.status == OperationStatus.SUCCEEDED
    assert fresh(instance).status == Status.RUNNING
    # same volume: the data is still there (second boot)
    platform.wait_for_body(instance.host, "boots: <code>2</code>")
    assert len([r for r in installation_resources(docker_client, str(instance.id)) if r.startswith("container")]) == 1
    assert reconcile().healed == []  # converged


def test_stopped_instance_started_by_hand_is_stopped_again(platform, docker_client):
    instance, _ = create("sleepy")
    services.instance_stop(instance=instance, actor="test")
    docker_client.containers.get(build_deployment(instance).container("web").name).start()
    report = reconcile()
    assert report.stopped == ["sleepy"]
    assert not runtime_for(instance.server).state(build_deployment(instance)).any_running
    assert fresh(instance).status == Status.STOPPED


def test_missing_route_file_is_published_again(platform):
    instance, _ = create("routed")
    platform.wait_for_body(instance.host, "Hello from routed")
    routing().unpublish(str(instance.id))  # as if its route had been lost
    assert routing().wait_removed(str(instance.id))
    reconcile()
    assert routing().current(str(instance.id)) is not None
    # routed to the app again (not relayed by the edge, which the proxy's catch-all reaches meanwhile)
    platform.wait_until(instance.host, lambda r: "Hello from routed" in r.text and "X-Tenantry-State" not in r.headers)


def test_a_pass_reads_the_engine_once_and_rewrites_nothing_that_did_not_change(platform, docker_client,
                                                                             monkeypatch):
    from tenantry.runtime.backends.docker import DockerRuntime

    instances = [create(slug)[0] for slug in ("counted-one", "counted-two", "counted-three")]
    reconcile()  # converged: every route written as the database says
    calls = {"observe": 0, "state": 0}
    for method in calls:
        original = getattr(DockerRuntime, method)

        def counting(self, *args, _name=method, _original=original, **kwargs):
            calls[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(DockerRuntime, method, counting)
    routes = sorted((platform.directory / "dynamic").glob("route-*.yml"))
    written = {path.name: path.stat().st_ino for path in routes}

    assert reconcile().healed == []

    # One listing of the engine for the three instances (it was three inspections each), and
    # no route file replaced when no route changed.
    assert calls == {"observe": 1, "state": 0}
    assert {path.name: path.stat().st_ino for path in routes} == written
    docker_client.containers.get(f"{settings.TENANTRY['RESOURCE_PREFIX']}-counted-two-web").stop()
    assert reconcile().healed == ["counted-two"]  # drift is still found from the one listing
    assert fresh(instances[1]).status == Status.RUNNING


def test_the_reconcile_command_runs_a_pass_and_says_how_long_it_took(platform):
    import io
    import re

    from django.core.management import call_command

    instance, _ = create("timed")
    out = io.StringIO()
    call_command("reconcile", stdout=out)
    printed = out.getvalue()
    assert printed.startswith("resumed: 0, healed: [], stopped: [], orphans removed: 0; in "), printed
    assert re.search(r"; in \d+\.\d\d s \(engines connected in \d+\.\d\d s before\)", printed), printed
    assert fresh(instance).status == Status.RUNNING


class PassMeter:
    """What one reconciler pass costs, as a new process makes it (backends loaded afresh, each
    engine connected first, as `tenantry reconcile` does): database queries, calls to the
    engine, iptables runs, route files parsed and written, audit rows and operations added."""

    def __init__(self, platform, monkeypatch):
        import docker.api.client
        import yaml

        from tenantry.runtime.backends.docker_confinement import IptablesFirewall

        self.dynamic = platform.directory / "dynamic"
        self.counts = {"engine calls": 0, "firewall runs": 0, "route files parsed": 0}

        def counting(owner, name, counter):
            original = getattr(owner, name)

            def counted(*args, **kwargs):
                self.counts[counter] += 1
                return original(*args, **kwargs)

            monkeypatch.setattr(owner, name, counted)

        counting(docker.api.client.APIClient, "send", "engine calls")
        counting(IptablesFirewall, "_run", "firewall runs")
        counting(IptablesFirewall, "_run_restore", "firewall runs")
        counting(yaml, "load", "route files parsed")  # what Traefik's published() parsed route files with

    def routes(self) -> dict[str, int]:
        """The route files (shards) and their inodes: a rewrite renames a new file in."""
        return {path.name: path.stat().st_ino for path in self.dynamic.glob("route*.yml")}

    def measure(self):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        from tenantry.core.backends import reset_backends
        from tenantry.core.models import AuditEvent
        from tenantry.instances.models import Operation
        from tenantry.runtime.models import Server

        reset_backends()
        for server in Server.objects.filter(is_active=True):
            runtime_for(server).ping()
        routes, audit, operations = self.routes(), AuditEvent.objects.count(), Operation.objects.count()
        self.counts = dict.fromkeys(self.counts, 0)
        with CaptureQueriesContext(connection) as queries:
            report = reconcile()
        after = self.routes()
        return report, {
            **self.counts, "queries": len(queries),
            "route files written": sum(1 for name, inode in after.items() if routes.get(name) != inode),
            "audit rows": AuditEvent.objects.count() - audit, "operations": Operation.objects.count() - operations}


def test_a_pass_over_more_unchanged_instances_costs_no_more(platform, monkeypatch):
    """Issue 15: one pass took 118 s at 1,000 instances. With nothing changed it makes the same
    few queries and engine calls for two instances as for five, and parses, writes, audits and
    queues nothing (a new process parsed every route file: its YAML is read from a header now)."""
    meter = PassMeter(platform, monkeypatch)
    for slug in ("even-one", "even-two"):
        create(slug)
    reconcile()  # converged
    report, two = meter.measure()
    for slug in ("even-three", "even-four", "even-five"):
        create(slug)
    reconcile()
    more, five = meter.measure()

    assert report.healed == more.healed == [] and report.errors == more.errors == []
    assert len(routing().published()) == 5
    nothing = {"firewall runs": 0, "route files parsed": 0, "route files written": 0, "audit rows": 0,
               "operations": 0}
    assert {key: two[key] for key in nothing} == nothing, two
    assert five == two, (two, five)
    assert two["engine calls"] <= 3 and two["queries"] <= 10, two


def test_healing_one_instance_does_work_for_that_one_only(platform, docker_client, monkeypatch):
    from tenantry.core.models import AuditEvent
    from tenantry.instances.models import Operation

    meter = PassMeter(platform, monkeypatch)
    instances = [create(slug)[0] for slug in ("heal-a", "heal-b", "heal-c")]
    reconcile()
    victim, others = instances[1], [instances[0], instances[2]]
    docker_client.containers.get(f"{settings.TENANTRY['RESOURCE_PREFIX']}-heal-b-web").stop()
    # the shards holding only the others' routes (a shard shared with the victim may be rewritten)
    others_routes = {shard_name(str(i.id)) for i in others} - {shard_name(str(victim.id))}
    before = {name: inode for name, inode in meter.routes().items() if name in others_routes}
    last_audit = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0

    report, counts = meter.measure()

    assert report.healed == ["heal-b"]
    assert counts["operations"] == 1 and last_operation(victim).kind == "start"
    assert all(last_operation(i).kind == "provision" for i in others)
    operations = Operation.objects.filter(instance=victim).values_list("pk", flat=True)
    targets = {str(victim.pk), *(str(pk) for pk in operations)}
    assert set(AuditEvent.objects.filter(id__gt=last_audit).values_list("target_id", flat=True)) <= targets
    assert {name: inode for name, inode in meter.routes().items() if name in others_routes} == before
    # Its START re-checks its own network's rules (two listings), nobody else's; no route file parsed.
    assert counts["firewall runs"] <= 2 and counts["route files parsed"] == 0, counts
    assert fresh(victim).status == Status.RUNNING


def test_the_reconcile_command_connects_before_it_times_the_pass(platform, monkeypatch):
    """`tenantry reconcile` printed a pass of 118 s at 1,000 instances: its "connection" asked the
    engine nothing, so the pass began with the firewall check of every network."""
    import io

    from django.core.management import call_command

    from tenantry.core.backends import reset_backends
    from tenantry.instances.management.commands import reconcile as command
    from tenantry.runtime.backends.docker_confinement import IptablesFirewall

    create("connected")
    reset_backends()  # as in a new process
    runs: list[str] = []
    original_run = IptablesFirewall._run
    monkeypatch.setattr(IptablesFirewall, "_run", lambda self, args, **kw: (runs.append(args[0]),
                                                                             original_run(self, args, **kw))[1])
    during: list[int] = []
    original_pass = command.reconcile

    def timed_pass(**kwargs):
        before = len(runs)
        report = original_pass(**kwargs)
        during.append(len(runs) - before)
        return report

    monkeypatch.setattr(command, "reconcile", timed_pass)
    call_command("reconcile", stdout=io.StringIO())

    assert runs and during == [0], (runs, during)


def test_an_instance_created_during_a_pass_is_left_to_its_operation(platform, monkeypatch):
    """Issue 15: a pass read which instances were busy before reading the instances. One created
    in between (its provisioning queued) looked idle and without a route, so the pass published
    its route while its provisioning did the same. Caddy inserts a new route each time: at 1,000
    instances it held some routes three times. The busy instances are read last now."""
    original = reconciler.expected_routes
    made: dict[str, str] = {}

    def instances_read_while_one_is_created() -> list:
        instance = Instance.objects.create(
            team=operator_team(), slug="racer", app="hello", server=default_server(), subnet="10.99.0.0/27",
            memory_mb=64, cpus=0.25, pids=64, status=Status.PENDING)
        Operation.objects.create(instance=instance, kind=OperationKind.PROVISION, actor="test")
        made["key"] = str(instance.id)
        return original()

    monkeypatch.setattr(reconciler, "expected_routes", instances_read_while_one_is_created)
    published, _ = reconciler.sync_routes()

    assert made["key"] not in published
    assert routing().current(made["key"]) is None
