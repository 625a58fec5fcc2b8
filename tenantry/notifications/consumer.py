"""The notification centre's share of the event stream: in-app messages, emails, operator alerts.
Every customer message an event causes is decided here (tenantry/notifications/rules.py)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import transaction
from django.utils import translation

from tenantry.accounts.models import Membership, Role, User
from tenantry.accounts.permissions import PERMISSIONS
from tenantry.events.models import Event
from tenantry.notifications.models import Notification, NotificationPreference
from tenantry.notifications.rules import RULES, Rule, render_title

_MANAGERS = (Role.OWNER, Role.ADMIN)


def _recipients(event: Event, rule: Rule) -> list[User]:
    team = event.team
    if team is None:
        return []
    if rule.audience == "ticket":
        from tenantry.support.selectors import ticket_recipients

        return ticket_recipients(team=team, ticket_id=event.data.get("ticket_id"))
    roles = list(PERMISSIONS["billing.view"]) if rule.audience == "billing" else list(_MANAGERS)
    people = {m.user for m in Membership.objects.filter(team=team, role__in=roles, user__is_active=True)
              .select_related("user")}
    if rule.audience == "instance":
        from tenantry.instances.models import Instance

        try:
            instance_id = uuid.UUID(str(event.data.get("instance_id")))
        except ValueError:
            instance_id = None
        instance = Instance.objects.filter(pk=instance_id, team=team).first() if instance_id else None
        if instance is not None and instance.created_by.startswith("user:"):
            creator = (Membership.objects.filter(team=team, user__email=instance.created_by.removeprefix("user:"),
                                                 user__is_active=True).select_related("user").first())
            if creator is not None:
                people.add(creator.user)
    return sorted(people, key=lambda u: u.email)


def link_for(event: Event) -> str:
    team = event.team
    if team is None:
        return "/"
    family = event.type.split(".", 1)[0]
    if family == "articles" and event.data.get("slug"):
        return f"/t/{team.slug}/instances/{event.data['slug']}/articles/"
    if family in ("instance", "operation", "backup") and event.data.get("slug"):
        return f"/t/{team.slug}/instances/{event.data['slug']}/"
    if family in ("invoice", "payment"):
        return f"/t/{team.slug}/billing/"
    if family == "ticket" and event.data.get("ticket_id"):
        return f"/t/{team.slug}/support/{event.data['ticket_id']}/"
    if family == "webhook_endpoint":
        return f"/t/{team.slug}/webhooks/"
    return f"/t/{team.slug}/"


def consume(events: list[Event]) -> None:
    rows: list[Notification] = []
    emails: list[tuple[int, int]] = []  # (user id, event id)
    alerts: list[int] = []
    # A batch may hold thousands of invoices of a billing run: who is told is looked up once per
    # team and kind of audience, preferences once per team and event type.
    audiences: dict[tuple, list[User]] = {}
    choices: dict[tuple, dict[int, NotificationPreference]] = {}
    for event in events:
        rule = RULES.get(event.type)
        if rule is None:
            continue
        if rule.operator_alert:
            alerts.append(event.pk)
        key = (event.team_id, rule.audience, event.data.get("instance_id") if rule.audience == "instance" else
               event.data.get("ticket_id") if rule.audience == "ticket" else None)
        if key not in audiences:
            audiences[key] = _recipients(event, rule)
        users = audiences[key]
        if not users:
            continue
        if rule.optional and (key, event.type) not in choices:
            choices[(key, event.type)] = {p.user_id: p for p in NotificationPreference.objects.filter(
                user__in=users, event_type=event.type)}
        prefs = choices.get((key, event.type), {})
        url = link_for(event)
        for user in users:
            pref = prefs.get(user.pk)
            if pref is None or pref.in_app:
                with translation.override(user.language or settings.LANGUAGE_CODE):  # the reader's language
                    title = render_title(rule, event.data)
                rows.append(Notification(user=user, team=event.team, event=event, event_type=event.type,
                                         title=title, url=url))
            if rule.email and (pref is None or pref.email):
                emails.append((user.pk, event.pk))
    if rows:
        Notification.objects.bulk_create(rows)
    if emails or alerts:
        def send() -> None:
            from tenantry.notifications.tasks import event_email_task, operator_alert_event_task

            for user_id, event_id in emails:
                event_email_task(user_id, event_id)
            for event_id in alerts:
                operator_alert_event_task(event_id)

        transaction.on_commit(send)
