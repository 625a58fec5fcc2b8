"""Replies by email, both ways: the staff reply reaches the customer (a real SMTP server) in
their language with a signed reply address; the customer's answer comes back through Tenantry's
own SMTP server or a provider's signed webhook, quoted history cut, attachments kept; forged or
unknown senders are refused."""

from __future__ import annotations

import hashlib
import hmac
import smtplib
import time
from email.message import EmailMessage

import pytest
from django.test import Client

from tenantry.accounts.models import User
from tenantry.support import services
from tenantry.support.inbound import strip_quoted
from tenantry.support.inbound_smtp import start_server
from tenantry.support.mail import parse_reply_address, reply_address
from tenantry.support.models import MessageKind, TicketMessage, TicketStatus
from tests.dashboard.helpers import make_user
from tests.support.helpers import PNG, staff_user, team_of
from tests.testenv import free_port


@pytest.fixture()
def desk(transactional_db, settings, tmp_path, mailbox):
    settings.DATA_DIR = tmp_path
    customer = make_user("camille@client.test")
    User.objects.filter(pk=customer.pk).update(language="fr")
    customer.refresh_from_db()
    agent = staff_user()
    ticket = services.ticket_open(team=team_of(customer), user=customer, actor="user:camille", subject="Erreur 502",
                                  body="Mon site ne répond plus")
    return customer, agent, ticket, mailbox


@pytest.fixture()
def inbound_smtp():
    controller = start_server("127.0.0.1", free_port())
    yield controller
    controller.stop()


def staff_reply(desk, body="Nous regardons. <b>pas du HTML</b>"):
    customer, agent, ticket, mailbox = desk
    services.ticket_reply(ticket=ticket, user=agent, actor="user:agent", body=body, staff=True)
    return mailbox.wait_for(customer.email)


def answer(to: str, sender: str, body: str, *, attachment: tuple[str, bytes] | None = None,
           message_id: str = "<a1@client.test>") -> bytes:
    message = EmailMessage()
    message["From"] = f"Camille <{sender}>"
    message["To"] = to
    message["Subject"] = "Re: [#1] Erreur 502"
    message["Message-ID"] = message_id
    message.set_content(body)
    if attachment:
        message.add_attachment(attachment[1], maintype="image", subtype="png", filename=attachment[0])
    return bytes(message)


def test_staff_reply_is_emailed_in_the_customers_language_with_a_signed_reply_address(desk):
    customer, _, ticket, _ = desk
    email = staff_reply(desk)
    assert email["Reply-To"] == reply_address(ticket.number, customer)
    assert parse_reply_address(email["Reply-To"]) == (ticket.number, customer.pk)
    text = email.get_body(preferencelist=("plain",)).get_content()
    assert "Nous regardons." in text
    assert "Voir dans votre tableau de bord :" in text  # French: the reader's language
    html = email.get_body(preferencelist=("html",)).get_content()
    assert "&lt;b&gt;pas du HTML&lt;/b&gt;" in html and "<b>pas du HTML</b>" not in html
    assert f"/support/{ticket.pk}/" in text


def test_internal_notes_are_never_emailed(desk):
    customer, agent, ticket, mailbox = desk
    services.ticket_note(ticket=ticket, user=agent, body="internal only")
    time.sleep(0.5)
    assert mailbox.to(customer.email) == []


def test_a_reply_by_email_lands_in_the_ticket(desk, inbound_smtp):
    customer, agent, ticket, mailbox = desk
    reply_to = staff_reply(desk)["Reply-To"]
    body = ("Merci, ça remarche !\n\nLe mar. 1 déc. 2026 à 10:00, Support <support@tenantry.test> a écrit :\n"
            "> Nous regardons.\n")
    with smtplib.SMTP("127.0.0.1", inbound_smtp.port) as smtp:
        smtp.sendmail(customer.email, [reply_to], answer(reply_to, customer.email, body,
                                                         attachment=("log.png", PNG)))
    message = TicketMessage.objects.get(ticket=ticket, via="email")
    assert message.kind == MessageKind.CUSTOMER and message.author == customer
    assert message.body == "Merci, ça remarche !"
    assert [a.filename for a in message.attachments.all()] == ["log.png"]
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.OPEN  # was waiting for the customer
    # Staff are told (the ticket has no assignee yet: every staff member).
    assert "Merci, ça remarche" in mailbox.text(mailbox.wait_for(agent.email))
    # The same message delivered twice is added once.
    with smtplib.SMTP("127.0.0.1", inbound_smtp.port) as smtp:
        smtp.sendmail(customer.email, [reply_to], answer(reply_to, customer.email, body))
    assert TicketMessage.objects.filter(ticket=ticket, via="email").count() == 1


def test_forged_and_unknown_senders_are_refused(desk, inbound_smtp):
    customer, _, ticket, _ = desk
    reply_to = staff_reply(desk)["Reply-To"]
    with smtplib.SMTP("127.0.0.1", inbound_smtp.port) as smtp:
        # Someone else writing from their own address with the leaked reply address.
        with pytest.raises(smtplib.SMTPDataError) as refused:
            smtp.sendmail("mallory@evil.test", [reply_to], answer(reply_to, "mallory@evil.test", "hi"))
        assert refused.value.smtp_code == 550
        # A forged From with a different envelope sender.
        with pytest.raises(smtplib.SMTPDataError):
            smtp.sendmail("mallory@evil.test", [reply_to], answer(reply_to, customer.email, "hi"))
        # A token that was tampered with, or not ours at all: refused at RCPT (no relay).
        forged = reply_to.replace(f"+{ticket.number}-", f"+{ticket.number + 1}-")
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            smtp.sendmail(customer.email, [forged], answer(forged, customer.email, "hi"))
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            smtp.sendmail(customer.email, ["someone@gmail.com"], answer("someone@gmail.com", customer.email, "hi"))
    assert not TicketMessage.objects.filter(via="email").exists()


def test_provider_webhook_verifies_the_signature(desk, settings):
    customer = desk[0]
    settings.TENANTRY_SUPPORT = {**settings.TENANTRY_SUPPORT, "INBOUND_WEBHOOK_KEY": "key-123"}
    reply_to = staff_reply(desk)["Reply-To"]
    raw = answer(reply_to, customer.email, "Réponse via le fournisseur\n\nOn Tue, Dec 1 Support wrote:\n> old",
                 attachment=("shot.png", PNG), message_id="<prov1@client.test>").decode()

    def fields(key: str = "key-123", timestamp: int | None = None) -> dict:
        ts = str(timestamp or int(time.time()))
        token = "tok" + ts
        signature = hmac.new(key.encode(), (ts + token).encode(), hashlib.sha256).hexdigest()
        return {"timestamp": ts, "token": token, "signature": signature, "body-mime": raw, "recipient": reply_to,
                "sender": customer.email}

    client = Client()
    assert client.post("/webhooks/support/inbound", fields(key="wrong")).status_code == 403
    assert client.post("/webhooks/support/inbound", fields(timestamp=int(time.time()) - 3600)).status_code == 403
    assert not TicketMessage.objects.filter(via="email").exists()
    response = client.post("/webhooks/support/inbound", fields())
    assert response.status_code == 200, response.content
    message = TicketMessage.objects.get(via="email")
    assert message.body == "Réponse via le fournisseur"
    assert [a.filename for a in message.attachments.all()] == ["shot.png"]
    stranger = {**fields(), "sender": "mallory@evil.test",
                "body-mime": raw.replace(customer.email, "mallory@evil.test")}
    refused = client.post("/webhooks/support/inbound", stranger)
    assert refused.status_code == 406 and refused.json()["code"] == "unknown_sender"


def test_webhook_is_off_without_a_key(desk):
    assert Client().post("/webhooks/support/inbound", {"body-mime": "x"}).status_code == 404


@pytest.mark.parametrize(("text", "kept"), [
    ("Thanks!\n\nOn Mon, 1 Dec 2026 at 10:00, Support <s@x> wrote:\n> old", "Thanks!"),
    ("Thanks!\nOn Mon, 1 Dec 2026 at 10:00, Support\n<s@x> wrote:\n> old", "Thanks!"),
    ("Merci\n\nLe lun. 1 déc. 2026, Support a écrit :\n> vieux", "Merci"),
    ("Ok\n-----Original Message-----\nFrom: x", "Ok"),
    ("New text\n## Reply above this line to answer in the ticket ##\nold", "New text"),
    ("Line one\n> quoted\nafter", "Line one"),
    ("Body\n-- \nCamille, CTO", "Body"),
])
def test_quoted_history_is_cut(text, kept):
    assert strip_quoted(text) == kept


def test_reply_addresses_cannot_be_forged():
    class U:
        pk = 7

    address = reply_address(12, U())  # type: ignore[arg-type]
    assert parse_reply_address(address) == (12, 7)
    assert parse_reply_address(address.upper()) == (12, 7)  # mail systems may fold the case
    assert parse_reply_address(address.replace("+12-7-", "+12-8-")) is None
    assert parse_reply_address(address.replace("@", "@x.")) is None
    assert parse_reply_address("support@" + address.split("@")[1]) is None


