"""Connect a customer's n8n to the WordPress site it publishes to: one of the team's WordPress
instances (Tenantry holds its application password) or a site elsewhere (the customer types its
address, user name and application password). Tenantry checks the site accepts the credential
(GET /wp-json/wp/v2/users/me), fills n8n's WordPress credential with it, and points the
workflows' WordPress nodes at that credential: nobody copies a secret by hand, and the password
is never shown back, logged or written outside the instance's encrypted values."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from tenantry.automations.models import WordPressConnection
from tenantry.automations.services import app_call, automation_for
from tenantry.core.audit import audit_log
from tenantry.core.errors import ApplicationError, Conflict, NotFound, ValidationError
from tenantry.instances.deployment import build_deployment
from tenantry.instances.models import Instance, Status
from tenantry.instances.secrets import instance_outputs, store_inputs, store_output
from tenantry.instances.tenant_http import redactor, tenant_session
from tenantry.routing.models import CustomDomain, DomainStatus
from tenantry.routing.selectors import public_url
from tenantry.webhooks import transport

# Names shared with the n8n spec (catalog/apps/n8n.yaml): its WordPress inputs and the hook that
# creates the credential from them at provisioning, whose id the SEO templates' nodes name.
CREDENTIAL_OUTPUT = "wordpress-credential"
CREDENTIAL_NAME = "WordPress"
CREDENTIAL_TYPE = "wordpressApi"
WORDPRESS_NODE = "n8n-nodes-base.wordpress"
# What the WordPress spec's hook stores: the application password made for n8n, as the admin.
APP_PASSWORD_OUTPUT = "n8n-app-password"
WORDPRESS_ADMIN = "admin"
TIMEOUT = 10
ME_PATH = "/wp-json/wp/v2/users/me?_fields=id,slug,name"


class WordPressRefused(ApplicationError):
    """The site answered, and refused the user name or application password."""

    code = "wordpress_refused"
    status = 422


class WordPressUnreachable(ApplicationError):
    code = "wordpress_unreachable"
    status = 502


@dataclass(frozen=True)
class WordPressSite:
    url: str
    username: str
    password: str = field(repr=False)
    instance: Instance | None = None


def wordpress_site_of_instance(*, team, ref: str) -> WordPressSite:
    """One of the team's WordPress instances, with the application password its provisioning made."""
    from tenantry.instances import selectors as instance_selectors

    instance = instance_selectors.instance_get(team=team, ref=ref)
    if instance.app != "wordpress" or instance.status == Status.DELETED:
        raise ValidationError(f"Instance {instance.slug!r} is not a WordPress site.", code="not_wordpress",
                              details={"field": "wordpress_instance"})
    password = (instance_outputs(instance).get(APP_PASSWORD_OUTPUT) or {}).get("password")
    if instance.provisioned_at is None or not password:
        raise Conflict(f"WordPress {instance.slug!r} is still being set up.", code="instance_not_running")
    return WordPressSite(url=public_url(instance), username=WORDPRESS_ADMIN, password=password, instance=instance)


def external_wordpress_site(*, team, url: str, username: str, app_password: str) -> WordPressSite:
    """A site the customer gave: an http(s) address with a public host (the webhooks' guard), never
    another team's instance, a user name and an application password."""
    url = (url or "").strip().rstrip("/")
    username, app_password = (username or "").strip(), (app_password or "").strip()
    if not username or not app_password:
        raise ValidationError("Give the WordPress user name and an application password.", code="invalid_input",
                              details={"field": "username" if not username else "app_password"})
    if len(url) > 2000 or len(username) > 200 or len(app_password) > 200:
        raise ValidationError("The WordPress address, user name or password is too long.", code="invalid_input")
    try:
        host, _ = transport.check_url_syntax(url)
    except transport.InvalidUrl:
        raise ValidationError("The WordPress address must be an http:// or https:// address without a "
                              "user name or password in it.", code="wordpress_url_invalid",
                              details={"field": "url"}) from None
    hosted = _hosted_instance(host)
    if hosted is not None and hosted.team_id != team.pk:
        raise ValidationError("This address belongs to a site this team does not own.", code="wordpress_url_refused",
                              details={"field": "url"})
    if hosted is None:
        try:
            transport.resolve_safe(url)
        except transport.UnsafeAddress:
            raise ValidationError(f"The host {host!r} resolves to a private or reserved address; only public "
                                  "WordPress sites can be connected.", code="wordpress_url_private",
                                  details={"field": "url"}) from None
        except transport.InvalidUrl:
            raise ValidationError(f"The host {host!r} does not resolve.", code="wordpress_url_invalid",
                                  details={"field": "url"}) from None
    return WordPressSite(url=url, username=username, password=app_password, instance=hosted)


def _hosted_instance(host: str) -> Instance | None:
    """The instance a host name belongs to, if it is one of this installation's."""
    host = host.lower().rstrip(".")
    suffix = f".{settings.TENANTRY['BASE_DOMAIN']}"
    if host.endswith(suffix):
        found = Instance.objects.filter(slug=host.removesuffix(suffix)).exclude(status=Status.DELETED).first()
        if found is not None:
            return found
    domain = CustomDomain.objects.filter(domain=host, status=DomainStatus.VERIFIED).select_related("instance").first()
    return domain.instance if domain is not None else None


def verify_wordpress_site(site: WordPressSite) -> str:
    """Ask the site who the credential is (GET /wp-json/wp/v2/users/me); its user's name, or a
    clear error. A team's instance is asked on its private address, a site elsewhere on the
    address that was checked to be public."""
    token = base64.b64encode(f"{site.username}:{site.password}".encode()).decode()
    headers = {"Authorization": f"Basic {token}", "Accept": "application/json"}
    redact = redactor([site.password, token])
    if site.instance is not None and site.instance.app == "wordpress":
        try:
            answer = tenant_session().get(f"{build_deployment(site.instance).upstream_url}{ME_PATH}",
                                          headers=headers, timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise WordPressUnreachable(f"WordPress {site.instance.slug!r} does not answer "
                                       f"({exc.__class__.__name__}); is it running?") from None
        status, body = answer.status_code, answer.text
    else:
        result = transport.send("GET", f"{site.url}{ME_PATH}", headers=headers, timeout=TIMEOUT,
                                user_agent="Tenantry-WordPress/1")
        if result.status is None or 300 <= result.status < 400:
            raise WordPressUnreachable(f"{site.url} did not answer as a WordPress site: {redact(result.error)}")
        status, body = result.status, result.body
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if status in (401, 403):
        reason = document.get("code", "") if isinstance(document, dict) else ""
        raise WordPressRefused(
            "WordPress refused the user name or application password (it may have been revoked: make a new one "
            "in WordPress, under Users → Profile → Application Passwords).",
            details={"status": status, "reason": redact(str(reason))[:100]})
    if status != 200 or not isinstance(document, dict) or "slug" not in document:
        raise WordPressUnreachable(f"{site.url} did not answer as a WordPress site (HTTP {status}); is the "
                                   "address right, with its REST API at /wp-json/?")
    return str(document.get("name") or document["slug"])


def wordpress_connect(*, instance: Instance, site: WordPressSite, actor: str) -> WordPressConnection:
    """Fill the n8n instance's WordPress credential with the site's and point its WordPress nodes
    at it. The instance comes from a team-scoped selector; nothing is saved unless the site
    accepts the credential and n8n took it."""
    if site.instance is not None and site.instance.team_id != instance.team_id:
        raise NotFound("No such WordPress site.", code="instance_not_found")
    backend = automation_for(instance)  # refuses an app without workflows, or one not running
    if get_credential_kind(instance) is None:
        raise ValidationError(f"App {instance.app!r} does not publish to WordPress.", code="not_supported")
    verify_wordpress_site(site)
    existing = WordPressConnection.objects.filter(instance=instance).first()
    credential_id = existing.credential_id if existing else \
        (instance_outputs(instance).get(CREDENTIAL_OUTPUT) or {}).get("id")
    data = {"url": site.url, "username": site.username, "password": site.password}
    credential_id = app_call(lambda: backend.save_credential(credential_id=credential_id, name=CREDENTIAL_NAME,
                                                             kind=CREDENTIAL_TYPE, data=data))
    changed = app_call(lambda: backend.use_credential(node_type=WORDPRESS_NODE, kind=CREDENTIAL_TYPE,
                                                      credential_id=credential_id, name=CREDENTIAL_NAME))
    return _save_connection(instance=instance, site=site, credential_id=credential_id, workflows=changed,
                            actor=actor)


@transaction.atomic
def _save_connection(*, instance: Instance, site: WordPressSite, credential_id: str, workflows: list[str],
                     actor: str) -> WordPressConnection:
    # The n8n spec's own inputs and output: its inputs_changed hook and the templates name them.
    store_inputs(instance, {"wordpress_url": site.url, "wordpress_username": site.username,
                            "wordpress_app_password": site.password})
    store_output(instance, CREDENTIAL_OUTPUT, {"id": credential_id}, sensitive=False)
    connection, _ = WordPressConnection.objects.update_or_create(instance=instance, defaults={
        "wordpress_instance": site.instance if site.instance is not None and site.instance.app == "wordpress"
        else None,
        "url": site.url, "username": site.username, "credential_id": credential_id,
        "verified_at": timezone.now(), "actor": actor})
    audit_log(actor=actor, action="automation.wordpress_connected", target=instance,
              data={"url": site.url, "username": site.username, "wordpress_instance":
                    site.instance.slug if site.instance is not None else None, "workflows": workflows})
    return connection


def get_credential_kind(instance: Instance) -> str | None:
    """The credential type the app's WordPress inputs fill (only n8n's, today)."""
    from tenantry.catalog.registry import get_app

    names = {i.name for i in get_app(instance.app).inputs}
    return CREDENTIAL_TYPE if {"wordpress_url", "wordpress_username", "wordpress_app_password"} <= names else None


def wordpress_choose(*, instance: Instance, actor: str, wordpress_instance: str | None = None,
                     url: str | None = None, username: str | None = None,
                     app_password: str | None = None) -> WordPressConnection:
    """What the dashboard and the API call: the team's WordPress instance (by slug or id), or a
    site elsewhere with its user name and application password; exactly one of the two."""
    if bool(wordpress_instance) == bool(url):
        raise ValidationError("Choose one of your WordPress instances, or give the address of a WordPress site.",
                              code="invalid_input", details={"field": "wordpress_instance"})
    if wordpress_instance:
        site = wordpress_site_of_instance(team=instance.team, ref=wordpress_instance)
    else:
        site = external_wordpress_site(team=instance.team, url=url or "", username=username or "",
                                       app_password=app_password or "")
    return wordpress_connect(instance=instance, site=site, actor=actor)
