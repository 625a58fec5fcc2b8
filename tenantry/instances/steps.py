"""The steps operations are made of. Each one is idempotent: run twice, it converges."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cached_property
from typing import Any

from django.conf import settings
from django.utils import timezone

from tenantry.catalog.registry import get_app
from tenantry.core.logging import get_logger
from tenantry.instances.deployment import build_deployment
from tenantry.instances.hooks import LOG_TAIL_LINES, HookRunner
from tenantry.instances.lease import Lease
from tenantry.instances.models import Instance, Operation, Step
from tenantry.instances.probes import http_ready
from tenantry.instances.secrets import sensitive_strings
from tenantry.instances.tenant_http import quoted, redactor
from tenantry.routing.backends.base import Route, RoutingBackend
from tenantry.routing.registry import routing
from tenantry.routing.selectors import route_hosts
from tenantry.runtime.backends.base import BackendError, ContainerSpec, Deployment, RuntimeBackend
from tenantry.runtime.registry import runtime_for

log = get_logger(__name__)


class StepContext:
    # Log lines of a running step reach the database at most this often (and when it ends):
    # live enough for a person watching, without a write per line.
    LOG_FLUSH_SECONDS = 1.0

    def __init__(self, *, operation: Operation, instance: Instance, lease: Lease):
        self.operation = operation
        self.instance = instance
        self.lease = lease  # every write of the operation's rows goes through it (fenced)
        self.step: Step | None = None
        self._flushed_at = 0.0

    def begin_step(self, step: Step) -> None:
        self.step = step
        self._flushed_at = time.monotonic()

    @cached_property
    def runtime(self) -> RuntimeBackend:
        return runtime_for(self.instance.server)

    @property
    def routing(self) -> RoutingBackend:
        return routing()

    @cached_property
    def spec(self):
        return get_app(self.instance.app)

    @cached_property
    def deployment(self) -> Deployment:
        return build_deployment(self.instance, self.spec)

    @cached_property
    def _redact(self) -> Callable[[str], str]:
        return redactor(sensitive_strings(self.instance))

    def secrets_changed(self) -> None:
        """Hooks store new secrets (an API key) while the operation runs: redact those too."""
        self.__dict__.pop("_redact", None)

    def redact(self, text: str) -> str:
        """Operation logs are shown to people: never let an instance secret through."""
        return self._redact(text)

    def log(self, message: str) -> None:
        """Add a line to the step's log. Raises LeaseLost when this worker no longer holds the
        operation: every step logs as it goes, so this is where a step notices and stops."""
        self.lease.check()
        if self.step is None:
            return
        line = f"{timezone.now():%H:%M:%S} {self.redact(message)}"
        self.step.log = f"{self.step.log}\n{line}" if self.step.log else line
        if time.monotonic() - self._flushed_at >= self.LOG_FLUSH_SECONDS:
            self.lease.update_step(self.step, log=self.step.log)
            self._flushed_at = time.monotonic()

    def sleep(self, seconds: float) -> None:
        """Wait inside a step; a lost lease ends the wait at once (LeaseLost)."""
        self.lease.sleep(seconds)

    def save_state(self, **values: Any) -> None:
        """Keep progress a resumed run must not redo (fenced, like every write of the operation)."""
        self.operation.state = {**self.operation.state, **values}
        self.lease.update_operation(state=self.operation.state)

    def route(self, *, to_app: bool) -> Route:
        upstream = self.deployment.upstream_url if to_app else None
        from tenantry.metering.services.enforcement import instance_rate_limit  # a throttled traffic quota

        rate_limit = instance_rate_limit(str(self.instance.id)) if to_app else None
        return Route(key=str(self.instance.id), hosts=route_hosts(self.instance), upstream=upstream,
                     rate_limit=rate_limit)

    def try_route_to_edge(self) -> None:
        try:
            self.routing.publish(self.route(to_app=False))
        except Exception:  # best effort on the failure path; the reconciler syncs routes later
            log.exception("routing.edge_failed", instance=self.instance.slug)


# --- steps -----------------------------------------------------------------------------------
def route_to_edge(ctx: StepContext) -> None:
    route = ctx.route(to_app=False)
    previous = ctx.routing.current(route.key)
    if previous is None and ctx.routing.serves_unrouted(route.hosts):
        # A new instance: the proxy's catch-all already shows the status page for its address.
        # Writing a route now would cost the proxy a reload of every route for nothing.
        ctx.log(f"{ctx.instance.host} shows Tenantry's status page (the proxy's catch-all)")
        return
    ctx.routing.publish(route)
    # When the app was being served, make sure the proxy has switched before the containers
    # stop: a request sent to a stopped container's address hangs until the ARP lookup fails.
    if previous is not None and previous.upstream and not ctx.routing.wait_applied(route):
        ctx.log("the proxy has not confirmed the switch yet; it applies it when it reloads")
    ctx.log(f"{ctx.instance.host} now shows Tenantry's status page")


def check_images(ctx: StepContext) -> None:
    images = sorted({c.image for c in ctx.deployment.containers})
    missing = ctx.runtime.missing_images(images)
    if missing:
        raise BackendError(
            f"Image(s) {', '.join(missing)} are not on this Docker host and no registry is reachable: "
            "build or load them on the host first.", code="image_missing")
    ctx.log(f"images present: {', '.join(images)}")


def create_network(ctx: StepContext) -> None:
    ctx.runtime.ensure_network(ctx.deployment)
    ctx.log(f"network {ctx.deployment.network} on {ctx.deployment.subnet}")


def create_volumes(ctx: StepContext) -> None:
    ctx.runtime.ensure_volumes(ctx.deployment)
    ctx.log(f"volumes: {', '.join(ctx.deployment.volumes) or 'none'}")


def create_containers(ctx: StepContext) -> None:
    changed = ctx.runtime.ensure_containers(ctx.deployment)
    ctx.log(f"created: {', '.join(changed)}" if changed else "containers already in place")
    if ctx.instance.settings_stale:
        Instance.objects.filter(pk=ctx.instance.pk).update(settings_stale=False)
        ctx.instance.settings_stale = False


def refresh_stale_containers(ctx: StepContext) -> None:
    """WAKE: recreate the containers whose settings changed while the app slept (a custom domain
    verified, the team's time zone); nothing to do — and no call to the engine — otherwise."""
    if ctx.instance.settings_stale:
        create_containers(ctx)
    else:
        ctx.log("settings unchanged since the app last ran")


def start_containers(ctx: StepContext) -> None:
    deployment = ctx.deployment
    for container in deployment.containers:
        for dependency in container.depends_on:
            _wait_ready(ctx, deployment.container(dependency))
        try:
            ctx.runtime.start(deployment, service=container.service)
        except BackendError as exc:
            if exc.code != "not_found":
                raise
            # The container vanished behind our back: recreate what is missing, then start.
            ctx.log(f"{container.name} is missing; recreating it")
            ctx.runtime.ensure_network(deployment)
            ctx.runtime.ensure_volumes(deployment)
            ctx.runtime.ensure_containers(deployment)
            ctx.runtime.start(deployment, service=container.service)
        ctx.log(f"started {container.service}")


def wait_healthy(ctx: StepContext) -> None:
    for container in ctx.deployment.containers:
        _wait_ready(ctx, container)


def _wait_ready(ctx: StepContext, container: ContainerSpec) -> None:
    probe = container.healthcheck
    if probe is None:
        return
    timeout = settings.TENANTRY["HEALTH_TIMEOUT_SECONDS"] + probe.start_period_seconds
    deadline = time.monotonic() + timeout
    delay = 0.005  # most apps answer within tens of ms of their start: look often, then less
    why = ""
    checks = 0
    while time.monotonic() < deadline:
        checks += 1
        if probe.http_path is not None:
            ready, why = http_ready(container, probe)
        else:
            health = _container_state(ctx, container).health
            ready, why = health == "healthy", f"health is {health}"
        if ready:
            ctx.log(f"{container.service} is ready")
            return
        # Every few checks, make sure the container is still alive: a crash fails fast
        # with its last log lines instead of waiting for the timeout.
        if checks % 10 == 0:
            state = _container_state(ctx, container)
            if state.exists and not state.running:
                tail = _log_tail(ctx, container)
                raise BackendError(
                    f"{container.service} stopped during start-up (exit code {state.exit_code}). "
                    f"Last log lines:\n{tail}", code="container_exited")
        ctx.sleep(delay)
        delay = min(delay * 1.3, 1.0)
    raise BackendError(f"{container.service} was not ready within {timeout:g} s ({why}).", code="not_ready")


def _container_state(ctx: StepContext, container: ContainerSpec):
    state = ctx.runtime.state(ctx.deployment)
    return next(c for c in state.containers if c.service == container.service)


def _log_tail(ctx: StepContext, container: ContainerSpec) -> str:
    try:
        return quoted(ctx.runtime.logs(ctx.deployment, container.service, tail=LOG_TAIL_LINES),
                      redact=ctx.redact, limit=2000)
    except BackendError:
        return "(no logs)"


def post_provision(ctx: StepContext) -> None:
    if ctx.instance.provisioned_at is not None:
        ctx.log("first-start tasks already done")
        return
    HookRunner(ctx, phase="post_provision").run(ctx.spec.hooks.post_provision)
    now = timezone.now()
    Instance.objects.filter(pk=ctx.instance.pk).update(provisioned_at=now)
    ctx.instance.provisioned_at = now


def apply_inputs(ctx: StepContext) -> None:
    hooks = ctx.spec.hooks.inputs_changed
    if not hooks:
        ctx.log("the app has nothing to update for new inputs")
    HookRunner(ctx, phase="inputs_changed").run(hooks)


def rotate_credentials(ctx: StepContext) -> None:
    HookRunner(ctx, phase="rotate_credentials").run(ctx.spec.hooks.rotate_credentials)


def publish_route(ctx: StepContext) -> None:
    route = ctx.route(to_app=True)
    ctx.routing.publish(route)
    if not ctx.routing.wait_applied(route):
        ctx.log("the proxy has not confirmed the route yet; it applies it when it reloads")
    ctx.log(f"{ctx.instance.url} → {route.upstream}")


def stop_containers(ctx: StepContext) -> None:
    ctx.runtime.stop(ctx.deployment.instance_id)
    ctx.log("containers stopped")


def unpublish_route(ctx: StepContext) -> None:
    """Takes the route out of the proxy's files without waiting for its reload: the deletion's
    Docker steps run meanwhile, and `confirm_route_removed` checks the reload at the end (waiting
    here blocked a worker thread for the whole reload, up to 3 s with a thousand routes)."""
    ctx.routing.unpublish(str(ctx.instance.id))
    ctx.log(f"{ctx.instance.host} removed from the proxy's routes")


def confirm_route_removed(ctx: StepContext) -> None:
    # "Deleted" must mean "no longer answers at its address", as soon as the operation ends.
    if not ctx.routing.wait_removed(str(ctx.instance.id)):
        ctx.log("the proxy has not confirmed the removal yet; it applies it when it reloads")
    else:
        ctx.log(f"{ctx.instance.host} no longer served by the proxy")


def remove_containers(ctx: StepContext) -> None:
    removed = ctx.runtime.remove_containers(str(ctx.instance.id))
    ctx.log(f"removed: {', '.join(removed) or 'nothing left'}")


def remove_volumes(ctx: StepContext) -> None:
    removed = ctx.runtime.remove_volumes(str(ctx.instance.id))
    ctx.log(f"removed: {', '.join(removed) or 'nothing left'}")


def remove_network(ctx: StepContext) -> None:
    removed = ctx.runtime.remove_network(str(ctx.instance.id))
    ctx.log(f"removed: {', '.join(removed) or 'nothing left'}")


def cleanup_failed_provision(ctx: StepContext) -> None:
    """Undo a failed create: no container, network or volume may stay behind."""
    instance_id = str(ctx.instance.id)
    for undo in (ctx.runtime.remove_containers, ctx.runtime.remove_volumes, ctx.runtime.remove_network):
        try:
            removed = undo(instance_id)
            if removed:
                ctx.log(f"cleaned up {', '.join(removed)}")
        except BackendError as exc:  # the reconciler removes what is left once it can
            ctx.log(f"clean-up incomplete: {exc.message}")
    ctx.try_route_to_edge()


# Per operation kind: what to do when one of its steps failed, before the failure is recorded.
# Returns True when the app runs again as before (filled in by apps that add kinds: backups).
FAILURE_HANDLERS: dict[str, Callable[[StepContext, BackendError], bool]] = {}

# Per operation kind: called with the operation's id once its outcome is committed (updates move
# their rollout on).
FINISHED_CALLBACKS: dict[str, Callable[[str], None]] = {}

STEPS: dict[str, Callable[[StepContext], None]] = {
    "route_to_edge": route_to_edge,
    "check_images": check_images,
    "create_network": create_network,
    "create_volumes": create_volumes,
    "create_containers": create_containers,
    "refresh_stale_containers": refresh_stale_containers,
    "start_containers": start_containers,
    "wait_healthy": wait_healthy,
    "post_provision": post_provision,
    "apply_inputs": apply_inputs,
    "rotate_credentials": rotate_credentials,
    "publish_route": publish_route,
    "stop_containers": stop_containers,
    "unpublish_route": unpublish_route,
    "confirm_route_removed": confirm_route_removed,
    "remove_containers": remove_containers,
    "remove_volumes": remove_volumes,
    "remove_network": remove_network,
}
