"""The client: one httpx session, retries on 429/503 honouring Retry-After, an Idempotency-Key
on every create (the same key on its retries, so a create is never done twice), pagination."""

from __future__ import annotations

import email.utils
import random
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import httpx

from tenantry_client.errors import ApiError, NotFound, RateLimited
from tenantry_client.models import (
    ApiKey,
    App,
    AuditEvent,
    Instance,
    InstanceCreated,
    Invitation,
    Member,
    Model,
    Operation,
    Page,
    Team,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEndpointCreated,
)

M = TypeVar("M", bound=Model)
RETRY_STATUSES = (429, 503)
PAGE_SIZE = 100


def _retry_after(response: httpx.Response, attempt: int, backoff: float, cap: float) -> float:
    value = response.headers.get("retry-after", "")
    if value:
        try:
            return min(cap, max(0.0, float(value)))
        except ValueError:
            when = email.utils.parsedate_to_datetime(value)
            return min(cap, max(0.0, when.timestamp() - time.time()))
    return min(cap, backoff * (2 ** attempt) * (1 + random.random() / 4))


class Tenantry:
    """`Tenantry(base_url="https://cloud.example.com", api_key="tn_…")`.

    `max_retries`: how many times a 429/503 (or a connection error) is retried; waits follow the
    server's Retry-After, capped at `max_wait` seconds each. `sleep` is replaceable (tests)."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 30.0, max_retries: int = 5,
                 backoff: float = 0.5, max_wait: float = 120.0, sleep: Callable[[float], None] = time.sleep,
                 transport: httpx.BaseTransport | None = None, user_agent: str = "tenantry-client/0.1") -> None:
        self._http = httpx.Client(base_url=base_url.rstrip("/") + "/api/v1", timeout=timeout, transport=transport,
                                  headers={"Authorization": f"Bearer {api_key}", "User-Agent": user_agent})
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_wait = max_wait
        self._sleep = sleep
        self.retries_done = 0  # how many retries this client made (observability, tests)
        self.instances = Instances(self)
        self.teams = Teams(self)
        self.webhooks = Webhooks(self)
        self.audit = Audit(self)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Tenantry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transport -------------------------------------------------------------------------
    def request(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
                idempotent_create: bool = False, idempotency_key: str | None = None) -> httpx.Response:
        headers = {}
        if idempotent_create or idempotency_key:
            headers["Idempotency-Key"] = idempotency_key or str(uuid.uuid4())
        attempt = 0
        while True:
            try:
                response = self._http.request(method, path, json=json, params=params, headers=headers)
            except httpx.TransportError:
                # Safe to resend: reads, and creates (they carry the same Idempotency-Key).
                if attempt >= self.max_retries or not (method == "GET" or headers):
                    raise
                self._sleep(min(self.max_wait, self.backoff * (2 ** attempt)))
            else:
                if response.status_code not in RETRY_STATUSES or attempt >= self.max_retries:
                    return self._checked(response)
                self._sleep(_retry_after(response, attempt, self.backoff, self.max_wait))
            attempt += 1
            self.retries_done += 1

    @staticmethod
    def _checked(response: httpx.Response) -> httpx.Response:
        if response.status_code < 400:
            return response
        try:
            body = response.json()
        except ValueError:
            body = {}
        code, message = body.get("code", "error"), body.get("message", response.text[:200])
        cls = {404: NotFound, 429: RateLimited}.get(response.status_code, ApiError)
        raise cls(response.status_code, code, message, body.get("details") or {}, dict(response.headers))

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v not in (None, "")}).json()

    def page(self, path: str, model: type[M], *, limit: int = PAGE_SIZE, offset: int = 0, **params: Any) -> Page[M]:
        body = self.get(path, limit=limit, offset=offset, **params)
        return Page(items=[model.from_dict(item) for item in body["items"]], count=body["count"], offset=offset,
                    limit=limit)

    def iterate(self, path: str, model: type[M], *, page_size: int = PAGE_SIZE, **params: Any) -> Iterator[M]:
        """Every item of a paginated list, fetching page after page as the caller goes."""
        offset = 0
        while True:
            page = self.page(path, model, limit=page_size, offset=offset, **params)
            yield from page.items
            if not page.items or not page.has_more:
                return
            offset += len(page.items)


class _Resource:
    def __init__(self, client: Tenantry) -> None:
        self._c = client


class Instances(_Resource):
    def list(self) -> Iterator[Instance]:
        return self._c.iterate("/instances", Instance)

    def get(self, ref: str) -> Instance:
        return Instance.from_dict(self._c.get(f"/instances/{ref}"))

    def create(self, *, slug: str, app: str, idempotency_key: str | None = None, **options: Any) -> InstanceCreated:
        body = self._c.request("POST", "/instances", json={"slug": slug, "app": app, **options},
                               idempotent_create=True, idempotency_key=idempotency_key).json()
        return InstanceCreated.from_dict(body)

    def action(self, ref: str, name: str) -> Operation:
        """start, stop, restart, hibernate, wake."""
        return Operation.from_dict(self._c.request("POST", f"/instances/{ref}/{name}").json())

    def delete(self, ref: str) -> Operation:
        return Operation.from_dict(self._c.request("DELETE", f"/instances/{ref}").json())

    def operation(self, operation_id: str) -> Operation:
        return Operation.from_dict(self._c.get(f"/operations/{operation_id}"))

    def apps(self) -> list[App]:
        return [App.from_dict(a) for a in self._c.get("/apps")]


class Teams(_Resource):
    def list(self) -> list[Team]:
        return [Team.from_dict(t) for t in self._c.get("/teams")]

    def get(self, slug: str) -> Team:
        return Team.from_dict(self._c.get(f"/teams/{slug}"))

    def members(self, slug: str) -> Iterator[Member]:
        return self._c.iterate(f"/teams/{slug}/members", Member)

    def invitations(self, slug: str) -> Iterator[Invitation]:
        return self._c.iterate(f"/teams/{slug}/invitations", Invitation)

    def invite(self, slug: str, *, email: str, role: str = "member") -> Invitation:
        return Invitation.from_dict(self._c.request("POST", f"/teams/{slug}/invitations",
                                                    json={"email": email, "role": role},
                                                    idempotent_create=True).json())

    def api_keys(self, slug: str) -> Iterator[ApiKey]:
        return self._c.iterate(f"/teams/{slug}/api-keys", ApiKey)


class Webhooks(_Resource):
    def endpoints(self) -> Iterator[WebhookEndpoint]:
        return self._c.iterate("/webhooks/endpoints", WebhookEndpoint)

    def create_endpoint(self, *, url: str, event_types: list[str], description: str = "",
                        idempotency_key: str | None = None) -> WebhookEndpointCreated:
        body = self._c.request("POST", "/webhooks/endpoints", json={"url": url, "event_types": event_types,
                                                                    "description": description},
                               idempotent_create=True, idempotency_key=idempotency_key).json()
        return WebhookEndpointCreated.from_dict(body)

    def delete_endpoint(self, endpoint_id: str) -> None:
        self._c.request("DELETE", f"/webhooks/endpoints/{endpoint_id}")

    def deliveries(self, **filters: Any) -> Iterator[WebhookDelivery]:
        return self._c.iterate("/webhooks/deliveries", WebhookDelivery, **filters)

    def replay(self, delivery_id: int) -> WebhookDelivery:
        return WebhookDelivery.from_dict(self._c.request("POST", f"/webhooks/deliveries/{delivery_id}/replay").json())


class Audit(_Resource):
    def list(self, **filters: Any) -> Iterator[AuditEvent]:
        """Filters: action (exact, or a prefix ending with '.'), actor, target_type, target_id, since, until."""
        return self._c.iterate("/audit", AuditEvent, **filters)

    def export_csv(self, **filters: Any) -> str:
        return self._c.request("GET", "/audit/export.csv", params=filters).text
