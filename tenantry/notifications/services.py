"""Who is told what, and when: every customer message goes out from here."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation

from tenantry.accounts.models import Membership, Role, User
from tenantry.catalog.registry import get_catalog
from tenantry.core.errors import ValidationError
from tenantry.core.logging import get_logger
from tenantry.events.models import Event
from tenantry.instances.models import Instance
from tenantry.notifications.consumer import link_for
from tenantry.notifications.email import send_templated_email
from tenantry.notifications.models import Notification, NotificationPreference
from tenantry.notifications.operator import post_operator_alert
from tenantry.notifications.rules import RULES, optional_event_types, render_title

log = get_logger(__name__)


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


def send_event_email(*, user_id: int, event_id: int) -> None:
    """The email an event causes for one person (tenantry/notifications/rules.py), in their language."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    event = Event.objects.select_related("team").filter(pk=event_id).first()
    rule = RULES.get(event.type) if event else None
    if user is None or event is None or rule is None:
        return
    language = user.language or None
    if rule.email_template == "ticket_reply":
        from tenantry.support.mail import send_reply_email

        send_reply_email(user=user, event=event)
        return
    if rule.email_template == "instance_ready":
        try:
            instance_id = uuid.UUID(str(event.data.get("instance_id")))
        except ValueError:
            return
        instance = Instance.objects.select_related("team").filter(pk=instance_id, team=event.team).first()
        if instance is None:
            return
        spec = get_catalog().get(instance.app)
        context: dict[str, object] = {"instance": instance, "app_title": spec.title if spec else instance.app,
                                      "manage_url": _dashboard(link_for(event))}
    else:
        with translation.override(language or settings.LANGUAGE_CODE):
            title = render_title(rule, event.data)
        context = {"title": title, "body": "", "link": _dashboard(link_for(event)), "optional": rule.optional,
                   "preferences_url": _dashboard("/notifications/preferences/")}
    send_templated_email(to=user.email, template=rule.email_template, context=context, language=language)


def send_operator_alert_for_event(*, event_id: int) -> None:
    event = Event.objects.select_related("team").filter(pk=event_id).first()
    rule = RULES.get(event.type) if event else None
    if event is None or rule is None:
        return
    team = event.team.name if event.team else "-"
    post_operator_alert(f"[{event.type}] {render_title(rule, event.data)} (team: {team}) "
                        f"{_dashboard('/admin/')}")


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
    try:
        post_operator_alert(f"A paid {subscription.app} instance {subscription.instance_slug!r} for team "
                            f"{subscription.team.name} could not be created: {subscription.provision_error} "
                            f"({subscription.provision_error_code}) {context['operator_url']}")
    except Exception:  # the emails went out; the channel is a second way, not worth a retry of both
        log.warning("operator.alert_failed", subscription=subscription_id)


# --- the notification centre ---------------------------------------------------------------------
def notifications_mark_read(*, user: User, notification_ids: list[str] | None = None) -> int:
    """Mark some (or, with None, all) of the user's unread notifications read; returns how many."""
    qs = Notification.objects.filter(user=user, read_at__isnull=True)
    if notification_ids is not None:
        qs = qs.filter(pk__in=notification_ids)
    return qs.update(read_at=timezone.now(), updated_at=timezone.now())


@transaction.atomic
def preferences_set(*, user: User, choices: dict[str, dict[str, bool]]) -> None:
    """`choices`: event type -> {"email": bool, "in_app": bool}. Only optional kinds can be
    turned off; a mandatory one named here is refused (nothing is changed)."""
    optional = set(optional_event_types())
    refused = sorted(set(choices) - optional)
    if refused:
        raise ValidationError(f"These messages cannot be turned off: {', '.join(refused)}.",
                              code="notification_not_optional", details={"event_types": refused})
    for event_type, channels in choices.items():
        NotificationPreference.objects.update_or_create(
            user=user, event_type=event_type,
            defaults={"email": bool(channels.get("email", True)), "in_app": bool(channels.get("in_app", True))})
