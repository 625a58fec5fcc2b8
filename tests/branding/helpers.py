from __future__ import annotations

import io

from tenantry.branding.selectors import forget_brand
from tenantry.branding.services import BrandInput, brand_update

NAME = "Acme Cloud"
PRIMARY = "#0a7d38"
ACCENT = "#b3135c"
SUPPORT = "help@acme-cloud.test"
FOOTER = "Acme Cloud SARL <b>\n12 rue du Port, 44000 Nantes\nTVA FR99123456789"


def png(width: int = 40, height: int = 20, color: str = "green") -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG")
    return out.getvalue()


def branded(**overrides):
    values = {"name": NAME, "primary_color": PRIMARY, "accent_color": ACCENT, "support_email": SUPPORT,
              "legal_footer": FOOTER, "logo": png()}
    values.update(overrides)
    brand = brand_update(actor="operator@test", data=BrandInput(**values))
    # The service forgets the cached brand on commit; tests run inside one transaction.
    forget_brand()
    return brand
