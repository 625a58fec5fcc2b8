"""Who is told what, and when."""

from __future__ import annotations

from django.conf import settings

from tenantry.accounts.models import Membership, Role, User
from tenantry.catalog.registry import get_catalog
from tenantry.instances.models import Instance
from tenantry.notifications.email import send_templated_email


def _dashboard(path: str = "/") -> str:
    return settings.TENANTRY["DASHBOARD_URL"].rstrip("/") + path


def notify_welcome(user: User) -> None:
    send_templated_email(to=user.email, template="welcome", context={"dashboard_url": _dashboard()},
                         language=user.language or None)


def instance_ready_recipients(instance: Instance) -> list[User]:
    """Whoever asked for the instance, and the team's owners and admins."""
    people = {m.user for m in Membership.objects.filter(team=instance.team, role__in=[Role.OWNER, Role.ADMIN])
              .select_related("user")}
    if instance.created_by.startswith("user:"):
        creator = User.objects.filter(email=instance.created_by.removeprefix("user:")).first()
        if creator is not None and Membership.objects.filter(team=instance.team, user=creator).exists():
            people.add(creator)
    return sorted(people, key=lambda u: u.email)


def notify_instance_ready(instance_id: str) -> None:
    instance = Instance.objects.select_related("team").get(pk=instance_id)
    spec = get_catalog().get(instance.app)
    manage_url = _dashboard(f"/t/{instance.team.slug}/instances/{instance.slug}/")
    for user in instance_ready_recipients(instance):
        send_templated_email(to=user.email, template="instance_ready", language=user.language or None,
                             context={"instance": instance, "app_title": spec.title if spec else instance.app,
                                      "manage_url": manage_url})


def notify_provisioning_failed(subscription_id: str) -> None:
    """Tell the operators (staff users) that a customer paid for an instance that could not be
    created; the customer sees the same reason on their dashboard."""
    from tenantry.billing.models import Subscription

    subscription = Subscription.objects.select_related("team", "plan").get(pk=subscription_id)
    if not subscription.awaits_instance:
        return  # the customer fixed it (another name) before the alert went out
    context = {"team": subscription.team, "plan": subscription.plan.name, "app": subscription.app,
               "slug": subscription.instance_slug, "code": subscription.provision_error_code,
               "error": subscription.provision_error, "operator_url": _dashboard("/operator/billing/")}
    for operator in User.objects.filter(is_staff=True, is_active=True).order_by("email"):
        send_templated_email(to=operator.email, template="provisioning_failed", context=context,
                             language=operator.language or None)
