"""Replies by email: a message sent to a ticket's reply address becomes the customer's reply.

Both ways in end here — Tenantry's own SMTP server (inbound_smtp.py) and a provider's inbound
webhook (views/inbound.py). The address must carry a valid signed token, the sender must be
the person it was issued to (still an active member of the ticket's team), the quoted history is
cut off and attachments are kept (with the same limits as the dashboard's)."""

from __future__ import annotations

import email
import re
from email import policy
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr
from html import unescape

from tenantry.accounts.models import Membership, User
from tenantry.core.errors import ApplicationError
from tenantry.core.logging import get_logger
from tenantry.support.mail import parse_reply_address
from tenantry.support.models import Ticket, TicketMessage
from tenantry.support.policy import Upload
from tenantry.support.services import ticket_reply

log = get_logger(__name__)
MAX_INBOUND_BYTES = 40 * 1024 * 1024


class InboundRefused(ApplicationError):
    """The message is not accepted (SMTP 550, webhook 406): nobody should retry it."""

    code = "inbound_refused"
    status = 406


# Where quoted history starts: mail clients' attribution lines (English, French), Outlook's
# separators, our own marker, a signature delimiter.
_CUT = [
    re.compile(r"^\s*##.*(reply above this line|répondez au-dessus de cette ligne).*##\s*$", re.I),
    re.compile(r"^\s*on .{1,300}wrote:\s*$", re.I),
    re.compile(r"^\s*le .{1,300}a écrit\s*:\s*$", re.I),
    re.compile(r"^\s*-{2,}\s*(original message|message d'origine)\s*-{2,}\s*$", re.I),
    re.compile(r"^\s*_{10,}\s*$"),
    re.compile(r"^\s*(from|de)\s*:\s.+$", re.I),
    re.compile(r"^-- $"),
]


def strip_quoted(text: str) -> str:
    """The new part of a reply: everything above the first quoted line or attribution."""
    lines = text.replace("\r\n", "\n").split("\n")
    # "On Mon, 1 Dec 2026 at 10:00, Support <…> wrote:" is often wrapped onto two lines.
    joined = [f"{a} {b}" for a, b in zip(lines, [*lines[1:], ""], strict=True)]
    kept: list[str] = []
    for index, line in enumerate(lines):
        if line.startswith(">") or any(p.match(line) for p in _CUT) or (
                re.match(r"^\s*(on|le) ", line, re.I) and any(p.match(joined[index]) for p in _CUT[1:3])):
            break
        kept.append(line)
    return "\n".join(kept).strip()


def _html_to_text(html: str) -> str:
    html = re.sub(r"(?is)<(script|style|blockquote)\b.*?</\1>", "", html)
    html = re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", html)
    return unescape(re.sub(r"<[^>]+>", "", html))


def _body_and_files(message: EmailMessage) -> tuple[str, list[Upload]]:
    part = message.get_body(preferencelist=("plain", "html"))
    text = ""
    if part is not None:
        text = part.get_content()
        if part.get_content_type() == "text/html":
            text = _html_to_text(text)
    uploads = []
    for attachment in message.iter_attachments():
        filename = attachment.get_filename()
        if not filename:
            continue
        content = attachment.get_payload(decode=True)
        if not isinstance(content, bytes):
            content = b""
        uploads.append(Upload(filename=filename, content=content))
    return strip_quoted(text), uploads


def receive_email(raw: bytes, *, recipients: list[str], envelope_from: str | None = None,
                  via: str = "email") -> TicketMessage:
    """Add the email to its ticket as the sender's reply, or raise InboundRefused (or the
    services' own errors: `ticket_closed`, attachment limits)."""
    if len(raw) > MAX_INBOUND_BYTES:
        raise InboundRefused("The message is too large.", code="message_too_large")
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    targets = [parse_reply_address(r) for r in recipients]
    if not recipients:  # a provider's webhook may only give the headers
        targets = [parse_reply_address(a) for _, a in getaddresses(message.get_all("To", []) +
                                                                   message.get_all("Cc", []))]
    target = next((t for t in targets if t is not None), None)
    if target is None:
        raise InboundRefused("Unknown recipient: reply to the address of a ticket's email.", code="unknown_recipient")
    number, user_id = target
    sender = parseaddr(str(message.get("From", "")))[1].lower()
    user = User.objects.filter(pk=user_id, is_active=True).first()
    ticket = Ticket.objects.filter(number=number).select_related("team").first()
    envelope = (envelope_from or "").strip("<>").lower()
    if user is None or ticket is None or sender != user.email.lower() or (envelope and envelope != sender):
        log.warning("support.inbound_refused", reason="sender", ticket=number)
        raise InboundRefused("This address does not accept messages from that sender.", code="unknown_sender")
    if not Membership.objects.filter(team=ticket.team, user=user).exists():
        raise InboundRefused("This address does not accept messages from that sender.", code="unknown_sender")
    body, uploads = _body_and_files(message)
    if not body and uploads:
        body = "(attachments)"
    message_id = str(message.get("Message-ID", "")).strip()[:300]
    reply = ticket_reply(ticket=ticket, user=user, actor=f"user:{user.email}", body=body, staff=False,
                         attachments=uploads, via=via, email_message_id=message_id)
    log.info("support.inbound_accepted", ticket=number, via=via)
    return reply
