"""Which events become customer messages, for whom, on which channels, and whether a person may
turn them off. An event type absent here is not a customer message (webhooks still get it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Rule:
    title: Any  # lazy text formatted with the event's data
    audience: str  # "instance", "billing", "managers", "ticket"
    email: bool  # sent by email too (billing's own emails already carry invoices and reminders)
    optional: bool  # a person may turn it off (mandatory: money owed, security, support replies)
    email_template: str = "notification"
    operator_alert: bool = False  # also posted to the operators' channel


RULES: dict[str, Rule] = {
    "instance.ready": Rule(_("%(slug)s is ready"), "instance", email=True, optional=True,
                           email_template="instance_ready"),
    "instance.failed": Rule(_("%(slug)s failed: %(error_message)s"), "instance", email=True, optional=True,
                            operator_alert=True),
    "instance.suspended": Rule(_("%(slug)s is suspended"), "instance", email=False, optional=False),
    "instance.deleted": Rule(_("%(slug)s was deleted"), "instance", email=False, optional=True),
    "operation.failed": Rule(_("%(kind)s of %(slug)s failed: %(error_message)s"), "instance", email=False,
                             optional=True),
    "invoice.finalized": Rule(_("Invoice %(number)s was issued"), "billing", email=False, optional=False),
    "invoice.paid": Rule(_("Invoice %(number)s is paid"), "billing", email=False, optional=True),
    "payment.succeeded": Rule(_("Payment received"), "billing", email=False, optional=True),
    "payment.failed": Rule(_("A payment failed: %(failure_message)s"), "billing", email=False, optional=False),
    # Metering and backups send their own, fuller emails for these: in-app (and the operator's
    # channel) only here, so nobody gets the same news twice.
    "usage.threshold": Rule(_("%(meter)s has reached %(percent)s%% of your plan"), "managers", email=False,
                            optional=True),
    "backup.failed": Rule(_("A backup of %(slug)s failed"), "instance", email=False, optional=False,
                          operator_alert=True),
    # Support (tenantry/support): the "ticket" audience is whoever opened or wrote in the ticket;
    # the reply email carries the reply's text and a signed Reply-To address (support/mail.py).
    "ticket.replied": Rule(_("New reply on your ticket: %(subject)s"), "ticket", email=True, optional=False,
                           email_template="ticket_reply"),
    "ticket.status_changed": Rule(_("Ticket %(subject)s is now %(status)s"), "ticket", email=False,
                                  optional=True),
    "articles.paused": Rule(_("%(slug)s: this week's %(limit)s articles are published; publishing is paused until "
                              "%(until_date)s"), "instance", email=True, optional=False),
    "articles.resumed": Rule(_("%(slug)s: publishing articles again"), "instance", email=False,
                             optional=True),
    "articles.run_failed": Rule(_("%(slug)s: an article could not be published: %(reason)s"), "instance",
                                email=True, optional=True),
    "webhook_endpoint.disabled": Rule(_("A webhook endpoint was disabled: %(url)s"), "managers", email=True,
                                      optional=False),
}


def optional_event_types() -> list[str]:
    return [event_type for event_type, rule in RULES.items() if rule.optional]


def render_title(rule: Rule, data: dict[str, Any]) -> str:
    class _Defaults(dict):
        def __missing__(self, key: str) -> str:
            return ""

    try:
        return (str(rule.title) % _Defaults(data))[:200]
    except (TypeError, ValueError):
        return str(rule.title)[:200]
