"""The instance a subscription pays for: its name, chosen and checked at checkout (before the
customer pays), and what happens when it still cannot be created once paid: the customer sees
why on the dashboard and picks another name, the operator is told at once."""

from __future__ import annotations

from django.db import transaction

from tenantry.accounts.models import Team
from tenantry.billing.models import Subscription
from tenantry.billing.models.subscriptions import LIVE_SUBSCRIPTION_STATUSES
from tenantry.core.audit import audit_log
from tenantry.core.errors import ApplicationError, Conflict, ValidationError
from tenantry.instances.models import Instance, Status
from tenantry.instances.naming import slug_problem


def instance_name_validate(slug: str | None, *, team: Team) -> str:
    """The name normalized, or the error instance creation would give for it (same rules and
    codes), raised while the customer can still change it. A name another team's checkout holds
    until its payment counts as taken: two customers must not pay for one address."""
    slug = (slug or "").strip().lower()
    problem = slug_problem(slug)
    if problem:
        code = "reserved_slug" if problem == "is reserved" else "invalid_slug"
        raise ValidationError(f"The name {slug!r} {problem}.", code=code, details={"field": "instance_slug"})
    held = (Subscription.objects.filter(instance_slug=slug, status__in=LIVE_SUBSCRIPTION_STATUSES, provisioned=False)
            .exclude(team=team).exists())
    if held or Instance.objects.filter(slug=slug).exclude(status=Status.DELETED).exists():
        raise Conflict(f"An instance named {slug!r} already exists.", code="slug_taken",
                       details={"field": "instance_slug"})
    return slug


def subscription_provision_failed(*, subscription: Subscription, error: ApplicationError, actor: str) -> None:
    """Keep the reason on the subscription (the dashboard shows it with a way out) and alert the
    operator; the subscription stands, nothing of the payment is lost."""
    Subscription.objects.filter(pk=subscription.pk).update(provision_error_code=error.code,
                                                           provision_error=error.message)
    subscription.provision_error_code, subscription.provision_error = error.code, error.message
    audit_log(actor=actor, action="subscription.provision_failed", target=subscription,
              data={"code": error.code, "message": error.message, "slug": subscription.instance_slug})
    from tenantry.notifications.tasks import provisioning_failed_task

    subscription_id = str(subscription.pk)
    transaction.on_commit(lambda: provisioning_failed_task(subscription_id))


@transaction.atomic
def subscription_instance_rename(*, subscription: Subscription, slug: str, actor: str) -> Subscription:
    """The customer's new name for an instance that could not be created: checked like at
    checkout, then provisioning is tried again at once."""
    from tenantry.billing.services.subscriptions import subscription_start_service

    subscription = Subscription.objects.select_for_update().get(pk=subscription.pk)
    if not subscription.awaits_instance:
        raise Conflict("This subscription has no instance waiting for a name.", code="invalid_state")
    subscription.instance_slug = instance_name_validate(slug, team=subscription.team)
    subscription.save(update_fields=["instance_slug", "updated_at"])
    audit_log(actor=actor, action="subscription.instance_renamed", target=subscription,
              data={"slug": subscription.instance_slug})
    subscription_start_service(subscription=subscription, actor=actor)
    return subscription
