"""`{% load branding %}{% current_brand as brand %}`: the brand in any template, whether or not it
is rendered for a request (emails, invoice PDFs, the edge pages)."""

from __future__ import annotations

from django import template

from tenantry.branding.selectors import BrandView
from tenantry.branding.selectors import current_brand as _current_brand

register = template.Library()


@register.simple_tag(name="current_brand")
def current_brand_tag() -> BrandView:
    return _current_brand()
