"""Tenantry's own inbound SMTP server (aiosmtpd): receives replies to tickets' reply addresses
and nothing else. Bound to 127.0.0.1 by default (TENANTRY_SUPPORT_SMTP_HOST/_PORT): put it
behind the MX that receives the inbound domain's mail (Postfix `transport_maps`, or a port
forward), or expose it with care — it never relays, it only accepts signed reply addresses."""

from __future__ import annotations

import asyncio
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from django.db import close_old_connections

from tenantry.core.errors import ApplicationError
from tenantry.core.logging import get_logger
from tenantry.support.inbound import MAX_INBOUND_BYTES, receive_email
from tenantry.support.mail import parse_reply_address

log = get_logger(__name__)


def _deliver(content: bytes, recipients: list[str], mail_from: str) -> str:
    close_old_connections()
    try:
        receive_email(content, recipients=recipients, envelope_from=mail_from)
    except ApplicationError as exc:
        return f"550 5.7.1 {exc.message}"
    except Exception:
        log.exception("support.inbound_failed")
        return "451 4.3.0 Temporary failure, try again later"
    finally:
        close_old_connections()
    return "250 2.0.0 Added to the ticket"


class TicketReplyHandler:
    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if parse_reply_address(address) is None:  # not ours: we are no relay
            return "550 5.1.1 Unknown recipient"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode()
        # The ORM is synchronous: run it on a worker thread, not the event loop.
        return await asyncio.get_running_loop().run_in_executor(
            None, _deliver, content, list(envelope.rcpt_tos), envelope.mail_from or "")


def start_server(host: str, port: int) -> Controller:
    """Start the server on a thread of its own; `.stop()` ends it."""
    controller = Controller(TicketReplyHandler(), hostname=host, port=port, data_size_limit=MAX_INBOUND_BYTES,
                            ident="Tenantry support")
    controller.start()
    return controller


def server_kwargs() -> dict[str, Any]:  # for tests and the command alike
    from django.conf import settings

    conf = settings.TENANTRY_SUPPORT
    return {"host": conf["SMTP_HOST"], "port": conf["SMTP_PORT"]}
