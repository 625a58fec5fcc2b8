"""Compare what should run with what runs, and heal the difference.

- an instance that should run but whose containers are gone or stopped gets a START operation
  (its steps recreate what is missing);
- one that should be stopped but runs gets a STOP;
- Docker resources labelled with this installation but owned by no live instance are removed:
  at once for deleted instances, after a grace period for instances the database does not know
  (instances/orphans.py: after a control-plane restore they hold customers' data);
- the proxy's routes are made to match the database;
- operations whose worker died are resumed.

`reconcile(dry_run=True)` (`tenantry reconcile --dry-run`) reports what a pass would do and does
none of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tenantry.core.audit import audit_log
from tenantry.core.errors import ApplicationError
from tenantry.core.logging import get_logger
from tenantry.instances.deployment import container_names, upstream_url
from tenantry.instances.engine import resume_stale_operations, stale_operation_ids
from tenantry.instances.models import ACTIVE_OPERATION_STATUSES, DesiredState, Instance, OperationKind, Status
from tenantry.instances.orphans import settle_orphans
from tenantry.instances.services import instance_heal
from tenantry.routing.backends.base import Route
from tenantry.routing.registry import routing
from tenantry.routing.selectors import route_hosts, verified_hosts_by_instance
from tenantry.runtime.backends.base import BackendError, Observation
from tenantry.runtime.models import Server
from tenantry.runtime.registry import runtime_for

log = get_logger(__name__)

_ACTOR = "reconciler"


@dataclass
class ReconcileReport:
    resumed: list[str] = field(default_factory=list)
    healed: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    orphans_removed: list[str] = field(default_factory=list)
    orphans_marked: list[str] = field(default_factory=list)  # first seen: removed after the grace period
    orphans_waiting: list[str] = field(default_factory=list)  # marked earlier, "kind:name (until …)"
    orphans_kept: list[str] = field(default_factory=list)  # an operator kept them
    routes_published: list[str] = field(default_factory=list)  # route keys written (or that would be)
    routes_unpublished: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dry_run: bool = False


def reconcile(*, dry_run: bool = False) -> ReconcileReport:
    """One pass. Each server's engine is read once (Runtime.observe: a few calls, whatever the
    number of instances) and compared with the database in memory; only what drifted costs
    more (an operation, an audit row, a route file written). With dry_run, the report says what
    the pass would do, and nothing is queued, written or removed."""
    report = ReconcileReport(resumed=stale_operation_ids() if dry_run else resume_stale_operations(),
                             dry_run=dry_run)
    # Only what the comparison reads (the whole row, its server's and its JSON options were most
    # of the database's part at 300 instances); one that drifted is read whole before it is healed.
    live = (Instance.objects.exclude(status=Status.DELETED)
            .exclude(operations__status__in=ACTIVE_OPERATION_STATUSES)
            .only("id", "slug", "app", "status", "desired_state", "subnet", "server_id"))
    servers = {server.pk: server for server in Server.objects.all()}
    observed: dict[Any, Observation | BackendError] = {}
    for instance in live:
        try:
            _reconcile_instance(instance, servers[instance.server_id], report, observed, dry_run=dry_run)
        except (BackendError, ApplicationError) as exc:
            report.errors.append(f"{instance.slug}: {exc}")
            log.warning("reconcile.instance_failed", instance=instance.slug, error=str(exc))
    for server in Server.objects.filter(is_active=True):
        try:
            _settle_orphans(server, report, _observation(server, observed), dry_run=dry_run)
        except BackendError as exc:
            report.errors.append(f"{server.name}: {exc}")
    report.routes_published, report.routes_unpublished = sync_routes(dry_run=dry_run)
    if not dry_run and any((report.healed, report.stopped, report.orphans_removed, report.orphans_marked,
                            report.resumed)):
        log.info("reconcile.done", healed=report.healed, stopped=report.stopped,
                 orphans=len(report.orphans_removed), orphans_marked=len(report.orphans_marked),
                 resumed=len(report.resumed))
    return report


def _observation(server: Server, observed: dict[Any, Observation | BackendError]) -> Observation:
    """The server's engine as read once in this pass (an engine that failed to answer is not
    asked again for each of its instances)."""
    if server.pk not in observed:
        try:
            observed[server.pk] = runtime_for(server).observe()
        except BackendError as exc:
            observed[server.pk] = exc
    found = observed[server.pk]
    if isinstance(found, BackendError):
        raise found
    return found


def _reconcile_instance(instance: Instance, server: Server, report: ReconcileReport,
                        observed: dict[Any, Observation | BackendError], *, dry_run: bool = False) -> None:
    if not instance.subnet or instance.status in (Status.PENDING, Status.FAILED):
        return  # never provisioned, or waiting for a person to retry
    if _follow_billing_state(instance, dry_run=dry_run):
        report.healed.append(instance.slug)
        return
    containers = _observation(server, observed).containers
    running = {service: name in containers and containers[name].running
               for service, name in container_names(instance).items()}
    at_rest = (Status.STOPPED, Status.HIBERNATED, Status.SUSPENDED)
    should_run = instance.desired_state == DesiredState.RUNNING and instance.status == Status.RUNNING
    should_rest = instance.desired_state in (DesiredState.STOPPED, DesiredState.HIBERNATED,
                                             DesiredState.SUSPENDED) and instance.status in at_rest
    if should_run and not (running and all(running.values())):
        missing = [service for service, up in running.items() if not up]
        if not dry_run:
            instance = _whole(instance)
            audit_log(actor=_ACTOR, action="instance.drift", target=instance, data={"not_running": missing})
            instance_heal(instance=instance, actor=_ACTOR)
        report.healed.append(instance.slug)
    elif should_rest and any(running.values()):
        # Heal with the kind that leads back to the desired state (a suspended instance stays suspended).
        heal_with: dict[str, str] = {DesiredState.HIBERNATED: OperationKind.HIBERNATE,
                                     DesiredState.SUSPENDED: OperationKind.SUSPEND}
        kind = heal_with.get(instance.desired_state, OperationKind.STOP)
        if not dry_run:
            instance = _whole(instance)
            audit_log(actor=_ACTOR, action="instance.drift", target=instance,
                      data={"running_when": instance.status})
            instance_heal(instance=instance, actor=_ACTOR, kind=kind)
        report.stopped.append(instance.slug)


def _whole(instance: Instance) -> Instance:
    """The instance with every field (the pass reads a few): services save and audit it."""
    return Instance.objects.select_related("server").get(pk=instance.pk)


def _follow_billing_state(instance: Instance, *, dry_run: bool = False) -> bool:
    """Suspension, resumption and archiving asked for while the instance was busy (billing records
    the desired state and defers): queue them now that it is free. True when one was queued (with
    dry_run: when one would be asked for)."""
    from tenantry.instances.lifecycle import instance_archive, instance_resume, instance_suspend

    desired, status = instance.desired_state, instance.status
    if desired == DesiredState.SUSPENDED and status in (Status.RUNNING, Status.STOPPED, Status.HIBERNATED):
        return dry_run or instance_suspend(instance=_whole(instance), actor=_ACTOR, reason="desired state") is not None
    if desired == DesiredState.ARCHIVED and status not in (Status.ARCHIVED, Status.ARCHIVING):
        return dry_run or instance_archive(instance=_whole(instance), actor=_ACTOR, reason="desired state") is not None
    if desired == DesiredState.RUNNING and status == Status.SUSPENDED:
        return dry_run or instance_resume(instance=_whole(instance), actor=_ACTOR) is not None
    return False


def _settle_orphans(server: Server, report: ReconcileReport, observation: Observation, *,
                    dry_run: bool = False) -> None:
    settled = settle_orphans(server, observation, dry_run=dry_run)
    report.orphans_removed += [f"{r.kind}:{r.name}" for r in settled.removed]
    report.orphans_marked += [f"{r.kind}:{r.name}" for r in settled.marked]
    report.orphans_waiting += [f"{r.kind}:{r.name} (until {due:%Y-%m-%d %H:%M} UTC)" for r, due in settled.waiting]
    report.orphans_kept += [f"{r.kind}:{r.name}" for r in settled.kept]


def expected_routes() -> list[Route]:
    from tenantry.metering.services.enforcement import throttled_routes  # traffic quotas that throttle

    routes = []
    verified = verified_hosts_by_instance()
    throttled = throttled_routes()
    # Only what a route is made of: no settings rendered, no secret read (one query for all).
    for instance in Instance.objects.exclude(status=Status.DELETED).exclude(subnet__isnull=True) \
            .only("id", "slug", "app", "status", "subnet"):
        upstream = upstream_url(instance) if instance.status == Status.RUNNING else None
        routes.append(Route(key=str(instance.id), hosts=route_hosts(instance, verified), upstream=upstream,
                            rate_limit=throttled.get(str(instance.id)) if upstream else None))
    return routes


def sync_routes(*, dry_run: bool = False) -> tuple[list[str], list[str]]:
    """Make the proxy's routes match the database (instances mid-operation are left alone).
    Returns the keys published and unpublished (with dry_run: that would be, none touched)."""
    backend = routing()
    current = backend.published()
    wanted = {r.key: r for r in expected_routes()}
    # The busy ones last: an instance created after this reading is not wanted at all, one created
    # before it is busy (its operation is queued with it). Read first, an instance created in
    # between looked idle and was published here and by its provisioning at once (Caddy, whose
    # insert is not idempotent, then held its route twice).
    busy_keys = {str(pk) for pk in Instance.objects.filter(operations__status__in=ACTIVE_OPERATION_STATUSES)
                 .values_list("pk", flat=True)}
    # Leave the routes of instances in the middle of an operation to that operation.
    unpublish = sorted(set(current) - set(wanted))
    outdated = backend.outdated()
    publish = [route for key, route in wanted.items()
               if (current.get(key) != route or key in outdated) and key not in busy_keys]
    if not dry_run:
        for key in unpublish:
            backend.unpublish(key)
        for route in publish:
            backend.publish(route)
    return [route.key for route in publish], unpublish
