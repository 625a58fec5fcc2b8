"""Transactional email: every message has a subject, a plain-text and an HTML body, rendered
from `emails/<name>_subject.txt`, `emails/<name>.txt` and `emails/<name>.html` in the
recipient's language."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import translation

from tenantry.core.logging import get_logger

log = get_logger(__name__)


def send_templated_email(*, to: str, template: str, context: dict[str, Any], language: str | None = None,
                         attachments: list[tuple[str, bytes, str]] | None = None, reply_to: str | None = None) -> None:
    """`attachments`: (filename, content, mimetype) tuples, e.g. an invoice PDF. `reply_to`: where
    answers go (a support ticket's signed reply address)."""
    language = language or settings.LANGUAGE_CODE
    with translation.override(language):
        full = {"product": "Tenantry", **context}
        subject = " ".join(render_to_string(f"emails/{template}_subject.txt", full).split())
        text = render_to_string(f"emails/{template}.txt", full)
        html = render_to_string(f"emails/{template}.html", full)
    message = EmailMultiAlternatives(subject=subject, body=text, to=[to], reply_to=[reply_to] if reply_to else None)
    message.attach_alternative(html, "text/html")
    for filename, content, mimetype in attachments or []:
        message.attach(filename, content, mimetype)
    message.send()
    log.info("email.sent", template=template, to_domain=to.rsplit("@", 1)[-1])
