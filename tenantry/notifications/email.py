"""Transactional email: every message has a subject, a plain-text and an HTML body, rendered
from `emails/<name>_subject.txt`, `emails/<name>.txt` and `emails/<name>.html` in the
recipient's language."""

from __future__ import annotations

from email.utils import formataddr, parseaddr
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from tenantry.core.logging import get_logger

log = get_logger(__name__)


def branded_from() -> str:
    """The sender: the brand's name over the configured address (TENANTRY_EMAIL_FROM)."""
    from tenantry.branding.selectors import current_brand

    address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1] or settings.DEFAULT_FROM_EMAIL
    return formataddr((current_brand().name, address))


def text_footer() -> str:
    """The brand's support address and legal footer under every plain-text body."""
    from tenantry.branding.selectors import current_brand

    brand = current_brand()
    lines = []
    if brand.support_email:
        lines.append(f"{_('Questions? Write to')} {brand.support_email}")
    if brand.legal_footer:
        lines.append(brand.legal_footer)
    return ("\n\n-- \n" + "\n".join(lines) + "\n") if lines else ""


def send_templated_email(*, to: str, template: str, context: dict[str, Any], language: str | None = None,
                         attachments: list[tuple[str, bytes, str]] | None = None, reply_to: str | None = None) -> None:
    """`attachments`: (filename, content, mimetype) tuples, e.g. an invoice PDF. `reply_to`: where
    answers go (a support ticket's signed reply address)."""
    from tenantry.branding.selectors import current_brand

    language = language or settings.LANGUAGE_CODE
    brand = current_brand()
    with translation.override(language):
        full = {"product": brand.name, **context}
        subject = " ".join(render_to_string(f"emails/{template}_subject.txt", full).split())
        text = render_to_string(f"emails/{template}.txt", full).rstrip("\n") + text_footer()
        html = render_to_string(f"emails/{template}.html", full)
    # Answers go to the ticket's address when there is one, else to the brand's support address.
    reply = reply_to or brand.support_email
    message = EmailMultiAlternatives(subject=subject, body=text, from_email=branded_from(), to=[to],
                                     reply_to=[reply] if reply else None)
    message.attach_alternative(html, "text/html")
    for filename, content, mimetype in attachments or []:
        message.attach(filename, content, mimetype)
    message.send()
    log.info("email.sent", template=template, to_domain=to.rsplit("@", 1)[-1])
