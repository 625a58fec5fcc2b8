"""Workflow template updates for automation instances (n8n): a new version of a template in the
catalog is pushed to existing instances (one, some or all), keeping the customer's credentials
and whether the workflow is active; the definition it replaced is kept for a rollback.

A template's version is a digest of its catalog file, so editing the file (or overriding it in
an operator's catalog directory) makes a new version. Pushes call the app directly, instance by
instance: one failing instance is reported and does not stop the others.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from django.db import transaction

from tenantry.automations.services import app_call, automation_for
from tenantry.catalog.registry import app_templates, get_app, get_catalog
from tenantry.catalog.templating import render_json
from tenantry.core.audit import audit_log
from tenantry.core.errors import ApplicationError, Conflict, NotFound, ValidationError
from tenantry.instances.hooks import hook_context
from tenantry.instances.models import Instance, Status
from tenantry.instances.secrets import instance_outputs
from tenantry.updates.models import InstanceTemplate

WORKFLOWS_HOOK = "workflows"  # the first-start hook that imported the templates (its captures: ids)


class NoPreviousVersion(Conflict):
    code = "no_previous_template_version"


@dataclass(frozen=True)
class PushResult:
    instance: str
    ok: bool
    version: str = ""
    message: str = ""


def template_version(body: object) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]


def _template(app: str, name: str) -> dict:
    templates = app_templates(app)
    if name not in templates:
        raise NotFound(f"App {app!r} has no template {name!r}.", code="template_not_found",
                       details={"known": sorted(templates)})
    return templates[name]


def _workflow_id(instance: Instance, name: str) -> str | None:
    """The instance's workflow made from template `name`: recorded by a push, else the one the
    first-start hook imported (its captures follow the order of the instance's templates)."""
    record = InstanceTemplate.objects.filter(instance=instance, name=name).first()
    if record is not None:
        return record.workflow_id
    chosen = (instance.options or {}).get("templates", get_app(instance.app).templates.default)
    imported = instance_outputs(instance).get(WORKFLOWS_HOOK)
    if name not in chosen or not isinstance(imported, list) or len(imported) <= chosen.index(name):
        return None
    return str(imported[chosen.index(name)]["id"])


def instances_with_template(*, name: str, app: str) -> list[Instance]:
    """Running instances of `app` (and of apps extending it) that have the template installed."""
    apps = [n for n, spec in get_catalog().items() if n == app or spec.extends == app]
    candidates = Instance.objects.filter(app__in=apps, status=Status.RUNNING, provisioned_at__isnull=False)
    return [i for i in candidates.order_by("slug") if _workflow_id(i, name) is not None]


def template_push(*, app: str, name: str, actor: str, instances: list[Instance] | None = None) -> list[PushResult]:
    """Push the catalog's current version of template `name` to `instances` (default: every
    running instance that has it). Instances already on that version are left alone."""
    spec = get_app(app)
    if spec.automation is None:
        raise ValidationError(f"App {app!r} has no workflows Tenantry can update.", code="not_supported")
    template = _template(app, name)
    version = template_version(template)
    targets = instances if instances is not None else instances_with_template(name=name, app=app)
    results = []
    for instance in targets:
        try:
            results.append(_push_one(instance, name, template, version, actor))
        except ApplicationError as exc:
            results.append(PushResult(instance=instance.slug, ok=False, message=f"{exc.message} [{exc.code}]"))
    return results


def _push_one(instance: Instance, name: str, template: dict, version: str, actor: str) -> PushResult:
    if name not in app_templates(instance.app):
        raise ValidationError(f"{instance.slug} has no template {name!r}.", code="template_not_found")
    workflow_id = _workflow_id(instance, name)
    if workflow_id is None:
        raise NotFound(f"{instance.slug} does not run the {name!r} template.", code="template_not_installed")
    record = InstanceTemplate.objects.filter(instance=instance, name=name).first()
    if record is not None and record.version == version:
        return PushResult(instance=instance.slug, ok=True, version=version, message="already on this version")
    backend = automation_for(instance)
    body = render_json(template, hook_context(instance, get_app(instance.app)), lenient=True)
    previous, _ = app_call(lambda: backend.replace_workflow(workflow_id, body))
    with transaction.atomic():
        InstanceTemplate.objects.update_or_create(
            instance=instance, name=name,
            defaults={"workflow_id": workflow_id, "version": version,
                      "previous_version": record.version if record else template_version(previous),
                      "previous_definition": previous, "updated_by": actor})
        audit_log(actor=actor, action="template.push", target=instance,
                  data={"template": name, "version": version, "workflow": workflow_id})
    return PushResult(instance=instance.slug, ok=True, version=version)


def template_rollback(*, instance: Instance, name: str, actor: str) -> InstanceTemplate:
    """Put back the definition the last push replaced (once: the pushed one becomes the previous)."""
    record = InstanceTemplate.objects.filter(instance=instance, name=name).first()
    if record is None or record.previous_definition is None:
        raise NoPreviousVersion(f"{instance.slug}: no earlier version of {name!r} to go back to.")
    backend = automation_for(instance)
    previous = record.previous_definition
    replaced, _ = app_call(lambda: backend.replace_workflow(record.workflow_id, previous))
    with transaction.atomic():
        record.previous_definition, record.previous_version, record.version = (
            replaced, record.version, record.previous_version)
        record.updated_by = actor
        record.save()
        audit_log(actor=actor, action="template.rollback", target=instance,
                  data={"template": name, "version": record.version, "workflow": record.workflow_id})
    return record
