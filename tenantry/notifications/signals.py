from __future__ import annotations

from typing import Any

from allauth.account.signals import email_confirmed
from django.dispatch import receiver


@receiver(email_confirmed)
def _welcome(sender: Any, request: Any, email_address: Any, **kwargs: Any) -> None:
    from tenantry.notifications.services import notify_welcome

    if email_address.primary or email_address.user.emailaddress_set.count() == 1:
        notify_welcome(email_address.user)
