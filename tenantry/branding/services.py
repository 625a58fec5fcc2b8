"""Changing the brand: validated as a whole (nothing is saved when one field is wrong), audited,
and forgotten by the cache at once."""

from __future__ import annotations

import hashlib
import io
import os
import re
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator, validate_email
from django.db import transaction
from django.utils.translation import gettext as _

from tenantry.branding.models import SINGLETON, Brand
from tenantry.branding.selectors import brand_conf, forget_brand, logo_path, logo_root
from tenantry.core.audit import audit_log, diff, snapshot
from tenantry.core.errors import ValidationError

_HEX = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
# Raster images only: an SVG can carry scripts and external references, so it is refused rather
# than sanitised. Pillow decodes the file: the declared type and the name are never trusted.
LOGO_FORMATS = {"PNG": ("image/png", "png"), "JPEG": ("image/jpeg", "jpg"), "GIF": ("image/gif", "gif"),
                "WEBP": ("image/webp", "webp")}
MAX_LOGO_PIXELS = 4096 * 4096
FIELDS = ["name", "primary_color", "accent_color", "support_email", "legal_footer", "logo_url",
          "logo_file", "logo_content_type"]


@dataclass(frozen=True)
class BrandInput:
    name: str = ""
    primary_color: str = ""
    accent_color: str = ""
    support_email: str = ""
    legal_footer: str = ""
    logo_url: str = ""
    logo: bytes | None = field(default=None, repr=False)  # an uploaded file's content
    remove_logo: bool = False


def normalise_color(value: str, label: str) -> str:
    value = value.strip()
    if not value:
        return ""
    if not _HEX.match(value):
        raise ValidationError(_("%(field)s must be a hex colour such as #1a2b3c.") % {"field": label},
                              code="invalid_color", details={"field": label, "value": value[:20]})
    if len(value) == 4:
        value = "#" + "".join(c * 2 for c in value[1:])
    return value.lower()


def check_logo(content: bytes) -> tuple[str, str]:
    """(content type, extension) of an acceptable logo, or ValidationError."""
    limit = brand_conf()["LOGO_MAX_BYTES"]
    if len(content) > limit:
        raise ValidationError(_("The logo is larger than %(limit)s KB.") % {"limit": limit // 1024},
                              code="logo_too_large", details={"size": len(content), "limit": limit})
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(content)) as image:
            kind = image.format or ""
            width, height = image.size
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ValidationError(_("The logo must be a PNG, JPEG, GIF or WebP image (SVG is refused)."),
                              code="invalid_logo") from exc
    if kind not in LOGO_FORMATS:
        raise ValidationError(_("The logo must be a PNG, JPEG, GIF or WebP image (SVG is refused)."),
                              code="invalid_logo", details={"format": kind})
    if width * height > MAX_LOGO_PIXELS:
        raise ValidationError(_("The logo is too large (at most 4096 by 4096 pixels)."),
                              code="logo_too_large", details={"width": width, "height": height})
    return LOGO_FORMATS[kind]


def _clean(data: BrandInput) -> dict[str, str]:
    name = " ".join(data.name.split())
    if len(name) > 100:
        raise ValidationError(_("The name is longer than 100 characters."), code="invalid_name")
    email = data.support_email.strip()
    if email:
        try:
            validate_email(email)
        except DjangoValidationError as exc:
            raise ValidationError(_("The support email is not a valid address."), code="invalid_email") from exc
    url = data.logo_url.strip()
    if url:
        try:
            URLValidator(schemes=["https", "http"])(url)
        except DjangoValidationError as exc:
            raise ValidationError(_("The logo URL must be an http(s) address."), code="invalid_logo_url") from exc
        if len(url) > 500:
            raise ValidationError(_("The logo URL must be an http(s) address."), code="invalid_logo_url")
    footer = data.legal_footer.replace("\r\n", "\n").strip()
    if len(footer) > 1000:
        raise ValidationError(_("The legal footer is longer than 1000 characters."), code="invalid_footer")
    return {"name": name, "primary_color": normalise_color(data.primary_color, _("Primary colour")),
            "accent_color": normalise_color(data.accent_color, _("Accent colour")),
            "support_email": email, "legal_footer": footer, "logo_url": url}


def _store_logo(content: bytes, extension: str) -> str:
    name = f"logo-{hashlib.sha256(content).hexdigest()[:32]}.{extension}"
    root = logo_root()
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = logo_path(name)
    assert path is not None
    if not path.exists():
        tmp = path.with_suffix(".part")
        tmp.write_bytes(content)
        os.replace(tmp, path)
    return name


def brand_update(*, actor: str, data: BrandInput) -> Brand:
    """Save the operator's brand. An uploaded logo replaces the URL (files are content-addressed:
    a new logo gets a new address, so browsers never keep showing the old one)."""
    values = _clean(data)
    logo: tuple[str, str] | None = check_logo(data.logo) if data.logo is not None else None
    with transaction.atomic():
        brand, _created = Brand.objects.select_for_update().get_or_create(key=SINGLETON)
        before = snapshot(brand, FIELDS)
        for name, value in values.items():
            setattr(brand, name, value)
        if data.remove_logo:
            brand.logo_file, brand.logo_content_type, brand.logo_url = "", "", ""
        if logo is not None and data.logo is not None:
            brand.logo_file = _store_logo(data.logo, logo[1])
            brand.logo_content_type = logo[0]
            brand.logo_url = ""
        elif values["logo_url"]:
            brand.logo_file, brand.logo_content_type = "", ""
        brand.save()
        audit_log(actor=actor, action="brand.update", target=brand, changes=diff(before, brand))
        transaction.on_commit(forget_brand)
    return brand
