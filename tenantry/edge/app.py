"""The edge: what answers on an instance's address while its app does not.

The proxy routes `<slug>.<domain>` here (with `/_edge/<instance id>` prefixed to the path)
whenever the instance's containers are not serving: being set up, starting, stopped, suspended,
failed, or hibernated — in which case the first request wakes it. While the app comes up (set
up, started, woken), a person's browser gets a page that reloads itself into the app, and a
machine caller (a webhook, an API client) is held and handed to the app once it may serve.
`/_tenantry/login` on the instance's address comes here too, even while the app serves.

It is its own listener (`tenantry edge`, on loopback), never part of the dashboard's origin,
and it answers only what the proxy forwarded for that instance (tenantry.edge.guard).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import uuid
from pathlib import Path

import httpx
from django.conf import settings
from django.db.models import QuerySet
from django.utils import translation

from tenantry.core import doorbell as doorbells
from tenantry.edge import pages
from tenantry.edge.guard import bare_host, host_serves_instance, proxy_credential_ok
from tenantry.edge.holding import (
    COMING_UP,
    FULL_RETRY_AFTER_SECONDS,
    HoldFull,
    HoldSlots,
    WakeWatch,
    in_db_thread,
    relay,
)
from tenantry.edge.wire import BodyTooLarge, ClientGone, EdgeRequest, EdgeResponse, Receive, Scope, Send, plain
from tenantry.instances.models import Instance, Status
from tenantry.instances.naming import instance_slug_of
from tenantry.routing.backends.base import EDGE_CREDENTIAL_HEADER
from tenantry.routing.selectors import verified_hosts

# `/_edge/<instance id>/…` from an instance's own route; `/_edge/by-host/…` from the proxy's
# catch-all for instance hosts with no route yet (a new instance: tenantry.routing.backends.traefik).
_EDGE_PATH = re.compile(r"^/_edge/(?:(?P<instance_id>[0-9a-fA-F-]{36})|(?P<by_host>by-host))(?:/(?P<rest>.*))?$")


def _not_found() -> EdgeResponse:
    return plain(404, "Not found.")


def _too_large() -> EdgeResponse:
    return plain(413, "The request body is larger than this address accepts.")


class EdgeApp:
    """The ASGI application. One instance per event loop: it owns the hold counters and the
    connection pool to the apps."""

    def __init__(self) -> None:
        self.slots = HoldSlots()
        self.wakes = WakeWatch()
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            # Calls to tenant apps follow no redirects and ignore proxy settings of the environment.
            self._client = httpx.AsyncClient(trust_env=False, follow_redirects=False,
                                             timeout=httpx.Timeout(60, connect=5))
        return self._client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return  # no websockets through the edge: the server refuses the handshake
        request = EdgeRequest.from_scope(scope, receive)
        response = await self.answer(request)
        try:
            await response.send(send, head_only=request.method == "HEAD")
        finally:
            await response.discard()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        doorbell = None
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                doorbell = self._listen_for_wakes()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if doorbell is not None:
                    asyncio.get_running_loop().remove_reader(doorbell[0].fileno())
                    doorbells.close(*doorbell)
                if self._client is not None:
                    await self._client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _listen_for_wakes(self) -> tuple[socket.socket, Path] | None:
        """Workers ring when an app may be handed requests (tenantry.instances.engine)."""
        bound = doorbells.listen(doorbells.edge_doorbells())
        if bound is not None:
            listener = bound[0]
            listener.setblocking(False)

            def rung() -> None:
                messages = []
                with contextlib.suppress(BlockingIOError):
                    while message := listener.recv(doorbells.MESSAGE_BYTES):  # every ring waiting
                        messages.append(message)
                self.wakes.rung(ready=doorbells.ready_instances(messages))

            asyncio.get_running_loop().add_reader(listener.fileno(), rung)
        return bound

    async def answer(self, request: EdgeRequest) -> EdgeResponse:
        match = _EDGE_PATH.match(request.raw_path)
        # Not forwarded by the proxy: as if nothing were here.
        if match is None or not proxy_credential_ok(request.header_values(EDGE_CREDENTIAL_HEADER)):
            return _not_found()
        declared = request.declared_length()
        if declared is not None and declared > settings.TENANTRY["EDGE_MAX_BODY_BYTES"]:
            return _too_large()
        rest = match["rest"] or ""
        if match["by_host"]:
            instance = await in_db_thread(_live_instance_at, request.header("host"))
        else:
            try:
                instance_id = str(uuid.UUID(match["instance_id"]))
            except ValueError:
                return _not_found()
            instance = await in_db_thread(_live_instance, instance_id)
        with translation.override(pages.language_for(request)):
            if instance is None or not await _host_serves(request.header("host"), instance):
                return pages.missing_page()
            if rest.split("?", 1)[0] == "_tenantry/login":
                return await self.sign_in(request, instance)
            if rest.startswith("_tenantry/"):
                return pages.missing_page()
            return await self.serve(request, instance, rest)

    async def serve(self, request: EdgeRequest, instance: Instance, rest: str) -> EdgeResponse:
        instance = await in_db_thread(_visited, instance)
        # A machine caller (a webhook, an API client) cannot follow a "starting" page: hold its
        # request while the app wakes or is first set up, then hand it over and relay the app's answer.
        if instance.status in COMING_UP and not _is_browser_page(request):
            held = await self.hold(request, instance, rest)
            if held is not None:
                return held
        return pages.instance_page(await in_db_thread(_refreshed, instance))

    async def hold(self, request: EdgeRequest, instance: Instance, rest: str) -> EdgeResponse | None:
        """The app's answer, or None when the app did not come up in time (the caller then gets
        the status page)."""
        instance_id = str(instance.pk)
        try:
            slot = self.slots.take(instance_id)
        except HoldFull:
            return plain(503, "Too many requests are waiting for this app; send again shortly.",
                         ("Retry-After", str(FULL_RETRY_AFTER_SECONDS)), ("X-Tenantry-State", "busy"))
        try:
            body, size = await request.spool_body(limit=settings.TENANTRY["EDGE_MAX_BODY_BYTES"])
        except BodyTooLarge:
            slot.release()
            return _too_large()
        except ClientGone:
            slot.release()
            return plain(400, "The request was not received whole.")
        # The app's address is known before it is up (allocated with the instance): worked out
        # while the request waits, not after (that was ~12 ms of the first answer, with the
        # worker and the proxy's reload busy on the same cores).
        early = asyncio.ensure_future(in_db_thread(_upstream_url, instance_id))
        try:
            running = await self.wakes.until_running(instance_id, timeout=settings.TENANTRY["EDGE_HOLD_SECONDS"])
            if not running:
                body.close()
                slot.release()
                return None
            try:
                upstream = await early
            except Exception:  # worked out again now (and raised from there if it must)
                upstream = await in_db_thread(_upstream_url, instance_id)
        except BaseException:
            body.close()
            slot.release()
            raise
        finally:
            _abandon_lookup(early)
        return await relay(self.client, request, upstream=upstream, rest=rest, body=body, body_size=size,
                           slot=slot)

    async def sign_in(self, request: EdgeRequest, instance: Instance) -> EdgeResponse:
        from tenantry.automations.services import admin_login_redeem
        from tenantry.core.errors import ApplicationError

        try:
            cookies = await in_db_thread(admin_login_redeem, instance=instance, secret=pages.login_ticket(request))
        except ApplicationError as exc:
            return pages.login_refused(exc.message)
        return pages.signed_in(cookies)


def _abandon_lookup(task: asyncio.Future[str]) -> None:
    """Drop a look-up whose result is no longer wanted, without a "never retrieved" warning."""
    if not task.done():
        task.cancel()
    elif not task.cancelled():
        task.exception()


def _is_browser_page(request: EdgeRequest) -> bool:
    """A person's browser asking for a page: it gets the self-refreshing page instead of waiting."""
    return request.method in ("GET", "HEAD") and "text/html" in request.header("accept")


async def _host_serves(host: str, instance: Instance) -> bool:
    """The instance's own host is decided without the database; a customer's domain is looked
    up only when the visitor asked for another host."""
    if host_serves_instance(host, instance.slug):
        return True
    return host_serves_instance(host, instance.slug, await in_db_thread(verified_hosts, instance))


# --- database work (run in in_db_thread) -----------------------------------------------------
def _live_queryset() -> QuerySet[Instance]:
    return Instance.objects.exclude(status__in=(Status.DELETED, Status.DELETING, Status.ARCHIVED, Status.ARCHIVING))


def _live_instance(instance_id: str) -> Instance | None:
    return _live_queryset().filter(pk=instance_id).first()


def _live_instance_at(host: str) -> Instance | None:
    """The live instance whose own host this is (`<slug>.<base domain>`), or None."""
    slug = instance_slug_of(bare_host(host))
    return _live_queryset().filter(slug=slug).first() if slug else None


def _visited(instance: Instance) -> Instance:
    from tenantry.instances.services import instance_wake_on_request, touch_activity

    touch_activity(instance=instance)
    if instance.status == Status.HIBERNATED:
        instance_wake_on_request(instance=instance)
        instance.refresh_from_db()
    return instance


def _refreshed(instance: Instance) -> Instance:
    instance.refresh_from_db()
    return instance


def _upstream_url(instance_id: str) -> str:
    from tenantry.catalog.registry import get_app
    from tenantry.instances.deployment import build_deployment

    instance = Instance.objects.get(pk=instance_id)  # its own copy: this runs beside the request's
    return build_deployment(instance, get_app(instance.app)).upstream_url
