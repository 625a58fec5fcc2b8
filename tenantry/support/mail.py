"""Support's email: the reply address that carries a signed ticket token, the reply email a
customer gets (through the notification centre, in their language), and the mail staff get.

A reply address is `<local part>+<number>-<user id>-<signature>@<inbound domain>`: the ticket's
number, who it was sent to, and an HMAC of both with the installation's secret key (lower-case
base32, as mail systems may fold the case of local parts). Only that person may answer through it.
"""

from __future__ import annotations

import base64
import hmac
import re
from typing import Any

from django.conf import settings
from django.utils.crypto import salted_hmac

from tenantry.accounts.models import User
from tenantry.core.logging import get_logger
from tenantry.events.models import Event
from tenantry.notifications.email import send_templated_email

log = get_logger(__name__)
_SALT = "tenantry.support.reply-address"
_TOKEN = re.compile(r"^(\d{1,9})-(\d{1,12})-([a-z2-7]{16})$")


def _signature(number: int, user_id: int) -> str:
    digest = salted_hmac(_SALT, f"{number}.{user_id}", algorithm="sha256").digest()
    return base64.b32encode(digest[:10]).decode().lower()


def reply_address(number: int, user: User) -> str:
    conf = settings.TENANTRY_SUPPORT
    token = f"{number}-{user.pk}-{_signature(number, user.pk)}"
    return f"{conf['INBOUND_LOCAL_PART']}+{token}@{conf['INBOUND_DOMAIN']}"


def parse_reply_address(address: str) -> tuple[int, int] | None:
    """(ticket number, user id) if the address is one of ours with a valid signature."""
    conf = settings.TENANTRY_SUPPORT
    local, _, domain = address.strip().strip("<>").lower().rpartition("@")
    prefix = conf["INBOUND_LOCAL_PART"].lower() + "+"
    if domain != conf["INBOUND_DOMAIN"].lower() or not local.startswith(prefix):
        return None
    match = _TOKEN.match(local[len(prefix):])
    if match is None:
        return None
    number, user_id = int(match[1]), int(match[2])
    if not hmac.compare_digest(match[3], _signature(number, user_id)):
        return None
    return number, user_id


def _dashboard(path: str) -> str:
    return settings.TENANTRY["DASHBOARD_URL"].rstrip("/") + path


def send_reply_email(*, user: User, event: Event) -> None:
    """The `ticket.replied` email: the staff reply's text, its attachments' names, the link, and
    a Reply-To that brings the customer's answer back into the ticket."""
    from tenantry.support.models import MessageKind, Ticket, TicketMessage

    ticket = Ticket.objects.filter(pk=event.data.get("ticket_id"), team=event.team).select_related("team").first()
    message = TicketMessage.objects.filter(pk=event.data.get("message_id"), ticket=ticket,
                                           kind=MessageKind.STAFF).first() if ticket else None
    if ticket is None or message is None or event.team is None:
        return  # never an internal note: only staff replies are sent
    context: dict[str, Any] = {
        "ticket": ticket, "message": message, "attachments": list(message.attachments.all()),
        "link": _dashboard(f"/t/{event.team.slug}/support/{ticket.pk}/"),
    }
    send_templated_email(to=user.email, template="ticket_reply", context=context, language=user.language or None,
                         reply_to=reply_address(ticket.number, user))


def send_staff_email(message_id: str) -> None:
    """A customer wrote: tell the ticket's assignee (or every staff member while nobody has it),
    each in their language, with the operator console's link."""
    from tenantry.support.models import TicketMessage

    message = TicketMessage.objects.select_related("ticket", "ticket__team", "ticket__assignee", "author").filter(
        pk=message_id).first()
    if message is None:
        return
    ticket = message.ticket
    staff = [ticket.assignee] if ticket.assignee and ticket.assignee.is_active else \
        list(User.objects.filter(is_staff=True, is_active=True).order_by("email"))
    context = {"ticket": ticket, "message": message, "team": ticket.team,
               "attachments": list(message.attachments.all()), "link": _dashboard(f"/operator/support/{ticket.pk}/")}
    for person in staff:
        send_templated_email(to=person.email, template="ticket_staff", context=context,
                             language=person.language or None)


def send_sla_alert(ticket_ids: list[str]) -> None:
    """Staff by email and the operators' channel: which tickets passed their SLA."""
    from tenantry.notifications.operator import post_operator_alert
    from tenantry.support.models import Ticket

    tickets = list(Ticket.objects.filter(pk__in=ticket_ids).select_related("team").order_by("number"))
    if not tickets:
        return
    lines = [f"#{t.number} {t.subject} ({t.team.name}, {t.priority}): "
             + ", ".join(k for k, on in (("first response overdue", t.first_response_breached and
                                          t.first_response_at is None),
                                         ("resolution overdue", t.resolution_breached)) if on)
             for t in tickets]
    for person in User.objects.filter(is_staff=True, is_active=True).order_by("email"):
        send_templated_email(to=person.email, template="ticket_sla", context={
            "tickets": tickets, "link": _dashboard("/operator/support/?breached=1")}, language=person.language or None)
    try:
        post_operator_alert("SLA breached: " + "; ".join(lines) + " " + _dashboard("/operator/support/?breached=1"))
    except Exception:  # the emails went out; the channel is a second way
        log.warning("support.sla_alert_channel_failed", tickets=len(tickets))
