"""allauth's MFA adapter with the brand as the TOTP issuer: the name customers see in their
authenticator app."""

from __future__ import annotations

from allauth.mfa.adapter import DefaultMFAAdapter

from tenantry.branding.selectors import current_brand


class BrandedMFAAdapter(DefaultMFAAdapter):
    def get_totp_issuer(self) -> str:
        return current_brand().name
