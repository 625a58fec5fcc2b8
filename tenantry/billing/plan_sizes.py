"""A plan may never be smaller than an app it allows: an instance of that app could not be
created on it (or would run starved). An app's minimum is its catalog size (the sum of its
services' resources, what an instance of it is created with). A plan that allows every app
(empty `allowed_apps`) is checked against none here: instance creation refuses an app that does
not fit it with `size_over_plan`."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from django.utils.translation import gettext as _

if TYPE_CHECKING:
    from tenantry.billing.models import Plan


def plan_size_errors(plan: Plan) -> dict[str, str]:
    """Field -> message for every size below the minimum of an app the plan names."""
    from tenantry.catalog.registry import get_catalog

    catalog = get_catalog()
    errors: dict[str, str] = {}
    unknown = [app for app in plan.allowed_apps or [] if app not in catalog]
    if unknown:
        errors["allowed_apps"] = _("Unknown app(s): %(apps)s.") % {"apps": ", ".join(unknown)}
    for app in plan.allowed_apps or []:
        if app not in catalog:
            continue
        minimum = catalog[app].default_resources()
        if plan.memory_mb is not None and plan.memory_mb < minimum.memory_mb and "memory_mb" not in errors:
            errors["memory_mb"] = _("%(app)s needs at least %(minimum)s MB per instance; the plan gives "
                                    "%(given)s MB.") % {"app": app, "minimum": minimum.memory_mb,
                                                       "given": plan.memory_mb}
        if plan.cpus is not None and Decimal(str(plan.cpus)) < Decimal(str(minimum.cpus)) and "cpus" not in errors:
            errors["cpus"] = _("%(app)s needs at least %(minimum)s CPUs per instance; the plan gives "
                               "%(given)s.") % {"app": app, "minimum": minimum.cpus, "given": plan.cpus}
    return errors
