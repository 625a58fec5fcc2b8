"""The brand every surface shows (dashboard, emails, invoices, edge pages): the operator's row
over the environment's defaults, cached so that rendering a page costs no query."""

from __future__ import annotations

import asyncio
import base64
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.cache import cache

from tenantry.branding.models import SINGLETON, Brand

CACHE_KEY = "tenantry:brand:v1"


@dataclass(frozen=True)
class BrandView:
    name: str
    primary_color: str
    accent_color: str
    support_email: str
    legal_footer: str
    # Where a page finds the logo: the dashboard's own path for an uploaded file, or the URL.
    logo_src: str = ""
    logo_content_type: str = ""
    logo_file: str = field(default="", repr=False)

    @property
    def logo_absolute_url(self) -> str:
        """The logo for a page not on the dashboard's origin (emails, the edge pages)."""
        if self.logo_src.startswith("/"):
            return settings.TENANTRY["DASHBOARD_URL"] + self.logo_src
        return self.logo_src

    @property
    def from_name(self) -> str:
        return self.name

    def logo_data_uri(self) -> str:
        """The uploaded logo inline (invoice PDFs: nothing is fetched while rendering)."""
        path = logo_path(self.logo_file) if self.logo_file else None
        if path is None or not path.exists():
            return ""
        return f"data:{self.logo_content_type};base64,{base64.b64encode(path.read_bytes()).decode()}"


def brand_conf() -> dict:
    return settings.TENANTRY_BRAND


def logo_root() -> Path:
    return Path(settings.DATA_DIR) / "brand"


def logo_path(name: str) -> Path | None:
    """The stored file for a logo name, never outside <data>/brand."""
    root = logo_root().resolve()
    path = (root / name).resolve()
    return path if path.parent == root else None


def _build() -> BrandView:
    conf = brand_conf()
    row = Brand.objects.filter(key=SINGLETON).first()

    def pick(name: str) -> str:
        value = getattr(row, name, "") if row is not None else ""
        return value or conf[name.upper()]

    logo_src, content_type, logo_file = "", "", ""
    if row is not None and row.logo_file:
        logo_src, content_type, logo_file = f"/brand/logo/{row.logo_file}", row.logo_content_type, row.logo_file
    elif row is not None and row.logo_url:
        logo_src = row.logo_url
    else:
        logo_src = conf["LOGO_URL"]
    return BrandView(name=pick("name"), primary_color=pick("primary_color"), accent_color=pick("accent_color"),
                     support_email=pick("support_email"), legal_footer=pick("legal_footer"),
                     logo_src=logo_src, logo_content_type=content_type, logo_file=logo_file)


def _build_off_loop() -> BrandView:
    """The edge renders its pages inside its event loop, where the ORM may not run: read the row
    in a short-lived thread then (once per cache period)."""
    from django.db import connection

    try:
        return _build()
    finally:
        connection.close()


def _build_anywhere() -> BrandView:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _build()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="brand") as pool:
        return pool.submit(_build_off_loop).result(timeout=10)


def current_brand() -> BrandView:
    """The brand to show now. Cached for TENANTRY_BRAND_CACHE_SECONDS; the process that saves a
    change forgets it at once (other processes within that time, or at once with a shared cache)."""
    brand = cache.get(CACHE_KEY)
    if brand is None:
        brand = _build_anywhere()
        cache.set(CACHE_KEY, brand, brand_conf()["CACHE_SECONDS"])
    return brand


def forget_brand() -> None:
    cache.delete(CACHE_KEY)
