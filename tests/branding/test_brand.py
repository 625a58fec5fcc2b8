"""White label: the operator's brand on the dashboard, emails and invoices; bad input refused."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from tenantry.branding.models import Brand
from tenantry.branding.selectors import current_brand
from tenantry.branding.services import BrandInput, brand_update
from tenantry.core.errors import ValidationError
from tenantry.core.models import AuditEvent
from tenantry.notifications.services import notify_welcome
from tests.branding.helpers import ACCENT, FOOTER, NAME, PRIMARY, SUPPORT, branded, png
from tests.dashboard.helpers import PASSWORD, make_user, signed_in

pytestmark = pytest.mark.django_db


def _staff(email: str = "op@example.com"):
    user = make_user(email)
    user.is_staff = True
    user.save()
    return user


def test_defaults_come_from_the_environment_settings(settings):
    settings.TENANTRY_BRAND = {**settings.TENANTRY_BRAND, "NAME": "Env Brand", "SUPPORT_EMAIL": "env@brand.test"}
    brand = current_brand()
    assert (brand.name, brand.support_email, brand.primary_color) == ("Env Brand", "env@brand.test", "#4f46e5")
    branded(support_email="")  # an empty field keeps the environment's default
    brand = current_brand()
    assert (brand.name, brand.support_email) == (NAME, "env@brand.test")


def test_update_is_cached_audited_and_forgotten_on_commit(django_assert_num_queries,
                                                          django_capture_on_commit_callbacks):
    branded()
    first = current_brand()
    assert (first.name, first.primary_color, first.accent_color) == (NAME, PRIMARY, ACCENT)
    assert first.logo_src.startswith("/brand/logo/logo-") and first.logo_content_type == "image/png"
    with django_assert_num_queries(0):  # cached: a page costs no query for the brand
        assert current_brand() == first
    Brand.objects.update(name="Changed behind its back")
    assert current_brand().name == NAME  # still the cached one, until a service changes it
    with django_capture_on_commit_callbacks(execute=True):
        brand_update(actor="op", data=BrandInput(name="Renamed", primary_color="#ABC"))
    assert current_brand().name == "Renamed" and current_brand().primary_color == "#aabbcc"
    event = AuditEvent.objects.filter(action="brand.update").first()
    assert event is not None and event.changes["name"] == ["Changed behind its back", "Renamed"]


@pytest.mark.parametrize("field,value,code", [
    ("primary_color", "red", "invalid_color"),
    ("accent_color", "#12345g", "invalid_color"),
    ("primary_color", "#123;}body{x", "invalid_color"),
    ("support_email", "not an address", "invalid_email"),
    ("logo_url", "javascript:alert(1)", "invalid_logo_url"),
    ("name", "x" * 101, "invalid_name"),
])
def test_bad_fields_are_refused_and_nothing_is_saved(field, value, code):
    with pytest.raises(ValidationError) as caught:
        branded(**{field: value})
    assert caught.value.code == code
    assert not Brand.objects.exists()


@pytest.mark.parametrize("content,code", [
    (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "invalid_logo"),
    (b"%PDF-1.4 not an image", "invalid_logo"),
    (b"\x89PNG\r\n\x1a\n truncated", "invalid_logo"),
])
def test_non_image_logos_are_refused(content, code):
    with pytest.raises(ValidationError) as caught:
        branded(logo=content)
    assert caught.value.code == code
    assert not Brand.objects.exists()


def test_oversized_logo_is_refused(settings):
    settings.TENANTRY_BRAND = {**settings.TENANTRY_BRAND, "LOGO_MAX_BYTES": 2000}
    big = png(600, 600, "white")[:0] + bytes(2001)
    with pytest.raises(ValidationError) as caught:
        branded(logo=big)
    assert caught.value.code == "logo_too_large"
    with pytest.raises(ValidationError) as caught:  # small file, huge picture
        settings.TENANTRY_BRAND = {**settings.TENANTRY_BRAND, "LOGO_MAX_BYTES": 10**7}
        branded(logo=png(5000, 4000, "white"))
    assert caught.value.code == "logo_too_large"


def test_dashboard_pages_show_the_brand_escaped():
    branded()
    anonymous = Client()
    for path in ("/accounts/login/", "/accounts/signup/"):
        page = anonymous.get(path).content.decode()
        assert f"· {NAME}</title>" in page
        assert f"--brand-primary: {PRIMARY}; --brand-accent: {ACCENT};" in page
        assert f'class="brand-logo" src="{current_brand().logo_src}"' in page
        assert f'href="mailto:{SUPPORT}"' in page
        # The legal footer is plain text: escaped, line breaks kept.
        assert "Acme Cloud SARL &lt;b&gt;<br>12 rue du Port, 44000 Nantes<br>TVA FR99123456789" in page
        assert "<b>\n" not in page
    owner = make_user("owner@example.com")
    home = signed_in(owner).get(f"/t/{owner.memberships.get().team.slug}/", follow=True).content.decode()
    assert f'<span class="brand-name">{NAME}</span>' in home and "TVA FR99123456789" in home


def test_logo_is_served_with_its_checked_type_and_never_sniffed():
    branded()
    brand = current_brand()
    response = Client().get(brand.logo_src)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png" and response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    assert b"".join(response.streaming_content) == png()
    assert Client().get("/brand/logo/..%2Fsecret_key").status_code == 404
    assert Client().get("/brand/logo/logo-00000000000000000000000000000000.png").status_code == 404


def test_operator_page_saves_refuses_and_is_staff_only(django_capture_on_commit_callbacks):
    customer = signed_in(make_user("customer@example.com"))
    assert customer.get("/operator/brand/").status_code == 302  # to the admin login: not for customers
    operator = signed_in(_staff())
    assert operator.get("/operator/brand/").status_code == 200
    bad = operator.post("/operator/brand/", {"name": "Bad", "primary_color": "blue"})
    assert bad.status_code == 422 and "hex colour" in bad.content.decode() and not Brand.objects.exists()
    svg = SimpleUploadedFile("logo.png", b"<svg xmlns='http://www.w3.org/2000/svg'/>", content_type="image/png")
    refused = operator.post("/operator/brand/", {"name": "Bad", "logo": svg})
    assert refused.status_code == 422 and "SVG is refused" in refused.content.decode()
    logo = SimpleUploadedFile("logo.png", png(), content_type="image/png")
    with django_capture_on_commit_callbacks(execute=True):
        saved = operator.post("/operator/brand/", {"name": NAME, "primary_color": PRIMARY, "accent_color": ACCENT,
                                                   "support_email": SUPPORT, "legal_footer": FOOTER, "logo": logo})
    assert saved.status_code == 302
    row = Brand.objects.get()
    assert (row.name, row.primary_color, row.logo_content_type) == (NAME, PRIMARY, "image/png")
    page = operator.get("/operator/brand/").content.decode()
    assert f"· {NAME}</title>" in page and 'aria-current="page">Brand' in page


def test_every_email_carries_the_brand(mailbox, settings):
    settings.DEFAULT_FROM_EMAIL = "Tenantry <no-reply@acme-cloud.test>"
    branded()
    user = make_user("new@example.com")
    notify_welcome(user)
    message = mailbox.wait_for("new@example.com")
    assert message["From"] == f"{NAME} <no-reply@acme-cloud.test>"
    assert message["Reply-To"] == SUPPORT
    assert message["Subject"] == f"Welcome to {NAME}"
    html = mailbox.html(message)
    assert f"{NAME}</div>" in html and f"background:{PRIMARY}" in html
    assert current_brand().logo_absolute_url in html and current_brand().logo_absolute_url.startswith("http")
    assert "Acme Cloud SARL &lt;b&gt;<br>" in html and f"mailto:{SUPPORT}" in html
    text = mailbox.text(message)
    assert f"Questions? Write to {SUPPORT}" in text and "TVA FR99123456789" in text
    # allauth's own mails too (password reset): sender and subject prefix.
    Client().post("/accounts/password/reset/", {"email": "new@example.com"})
    reset = mailbox.wait_for("new@example.com", count=2)
    assert reset["From"] == f"{NAME} <no-reply@acme-cloud.test>"
    assert reset["Subject"].startswith(f"[{NAME}] ")
    assert f"password of your {NAME} account" in mailbox.html(reset)


@time_machine.travel(datetime(2026, 3, 15, 12, tzinfo=UTC), tick=False)
def test_invoice_pdf_carries_the_seller_identity_logo_and_footer(settings, output_dir, mailoutbox,
                                                                  django_capture_on_commit_callbacks):
    from tenantry.billing.models import Invoice
    from tenantry.billing.pdf import ensure_invoice_pdf, invoice_context
    from tenantry.billing.services import subscription_checkout
    from tests.billing.billing_helpers import french_vat, make_plan, make_team

    settings.TENANTRY_BILLING = {**settings.TENANTRY_BILLING, "SELLER": {
        "name": "", "address": "12 rue du Port\n44000 Nantes", "vat_id": "FR99123456789", "email": ""}}
    branded()
    french_vat()
    with django_capture_on_commit_callbacks(execute=True):
        subscription = subscription_checkout(team=make_team("pdfbrand"), plan=make_plan(), interval="month",
                                             actor="u")
    invoice = Invoice.objects.get(subscription=subscription)
    context = invoice_context(invoice)
    assert context["logo"].startswith("data:image/png;base64,")  # inline: the render fetches nothing
    path = ensure_invoice_pdf(invoice)
    (output_dir / "invoice-branded.pdf").write_bytes(path.read_bytes())
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert NAME in text and SUPPORT in text  # the seller block: the brand's name and address
    assert "FR99123456789" in text and "44000 Nantes" in text
    assert "Acme Cloud SARL <b>" in text  # the legal footer, as text
    images = subprocess.run(["pdfimages", "-list", str(path)], capture_output=True, text=True, check=True).stdout
    assert len(images.strip().splitlines()) >= 3  # header lines + the logo


def test_login_through_the_dashboard_host_with_the_brand(client, settings):
    branded()
    make_user("who@example.com")
    response = client.post("/accounts/login/", {"login": "who@example.com", "password": PASSWORD})
    assert response.status_code == 302
    assert NAME in client.get(response["Location"], follow=True).content.decode()


def test_logo_url_is_used_when_no_file():
    brand_update(actor="op", data=BrandInput(name=NAME, logo_url="https://cdn.acme-cloud.test/logo.png"))
    brand = current_brand()
    assert brand.logo_src == brand.logo_absolute_url == "https://cdn.acme-cloud.test/logo.png"
    assert brand.logo_data_uri() == ""  # never fetched for a PDF
    assert 'src="https://cdn.acme-cloud.test/logo.png"' in Client().get("/accounts/login/").content.decode()


def test_authenticator_apps_name_the_brand():
    from allauth.mfa.adapter import get_adapter

    branded()
    user = make_user("mfa@example.com")
    url = get_adapter().build_totp_url(user, "JBSWY3DPEHPK3PXP")
    assert url.endswith("&issuer=Acme%20Cloud")
