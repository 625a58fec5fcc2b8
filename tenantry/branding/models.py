"""The operator's brand (white label): one row, edited in the operator console; every field left
empty falls back to the environment's default (TENANTRY_BRAND_*)."""

from __future__ import annotations

from django.db import models

from tenantry.core.models import BaseModel

SINGLETON = "brand"


class Brand(BaseModel):
    key = models.CharField(max_length=16, unique=True, default=SINGLETON, editable=False)
    name = models.CharField(max_length=100, blank=True)
    primary_color = models.CharField(max_length=7, blank=True)
    accent_color = models.CharField(max_length=7, blank=True)
    support_email = models.EmailField(blank=True)
    # Plain text (company, address, VAT number…): always rendered escaped.
    legal_footer = models.TextField(max_length=1000, blank=True)
    # Either an uploaded file under <data>/brand/ (content-addressed) or an external URL.
    logo_file = models.CharField(max_length=200, blank=True)
    logo_content_type = models.CharField(max_length=40, blank=True)
    logo_url = models.URLField(max_length=500, blank=True)

    def __str__(self) -> str:
        return self.name or "brand"
