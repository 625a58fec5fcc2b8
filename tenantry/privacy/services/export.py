"""A person's data, all of it, as a zip: `data.json` plus the PDFs of the invoices of the teams
they own or pay for (GDPR art. 15 and 20)."""

from __future__ import annotations

import io
import json
import re
import zipfile
from typing import Any

from django.apps import apps
from django.db import models
from django.db.models import Q
from django.utils import timezone

from tenantry.accounts.models import Invitation, Membership, Role, User
from tenantry.core.models import AuditEvent

# Credentials are the user's, but a copy in a zip is a copy too many: never exported.
_SECRET_FIELD = re.compile(r"hash|secret|password|token|session_key|ciphertext", re.I)
# Models whose `data` is a credential (allauth's MFA authenticators: TOTP secret, recovery codes).
_SECRET_MODELS = {"mfa.authenticator": {"data"}}
_SKIPPED_MODELS = {"accounts.membership"}  # exported with their team, below


def _row(obj: models.Model) -> dict[str, Any]:
    label = obj._meta.label_lower
    skip = _SECRET_MODELS.get(label, set())
    out: dict[str, Any] = {}
    for field in obj._meta.concrete_fields:
        if _SECRET_FIELD.search(field.name) or field.name in skip:
            continue
        value = getattr(obj, field.attname)
        out[field.name] = value if isinstance(value, bool | int | float | str | dict | list | type(None)) else str(
            value)
    return out


def _user_rows(user: User) -> dict[str, list[dict[str, Any]]]:
    """Every row of every model that points at the user (found through the model graph, so a
    new app's table is exported without being listed here)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for relation in User._meta.related_objects:
        model = relation.related_model
        label = model._meta.label_lower
        if label in _SKIPPED_MODELS or not relation.field.concrete:
            continue
        rows = model._default_manager.filter(**{relation.field.name: user})
        found.setdefault(label, []).extend(_row(obj) for obj in rows)
    return {k: v for k, v in found.items() if v}


def _invoices(user: User) -> list[Any]:
    invoice_model = apps.get_model("billing", "Invoice")
    teams = Membership.objects.filter(user=user, role__in=[Role.OWNER, Role.BILLING]).values("team_id")
    return list(invoice_model.objects.filter(team_id__in=teams, number__isnull=False).order_by("issued_at"))


def user_data_export(*, user: User) -> bytes:
    """The zip (bytes): `data.json`, `invoices/<number>.pdf`."""
    from tenantry.billing.pdf import ensure_invoice_pdf

    memberships = Membership.objects.filter(user=user).select_related("team")
    invoices = _invoices(user)
    data = {
        "exported_at": timezone.now().isoformat(),
        "user": _row(user),
        "teams": [{"team": {"id": str(m.team_id), "name": m.team.name, "slug": m.team.slug}, "role": m.role,
                   "member_since": m.created_at.isoformat()} for m in memberships],
        "invitations_received": [_row(i) for i in Invitation.objects.filter(email__iexact=user.email)],
        "related": _user_rows(user),
        "audit_trail": [_row(a) for a in AuditEvent.objects.filter(
            Q(actor_user_id=user.pk) | Q(actor=f"user:{user.email}")).order_by("id")],
        "invoices": [{"number": inv.display_number, "team": str(inv.team_id), "status": inv.status,
                      "currency": inv.currency, "total_minor": inv.total_minor,
                      "issued_at": inv.issued_at.isoformat() if inv.issued_at else None,
                      "buyer": inv.buyer, "file": f"invoices/{inv.display_number}.pdf"} for inv in invoices],
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data.json", json.dumps(data, indent=2, default=str, ensure_ascii=False))
        for invoice in invoices:
            archive.write(ensure_invoice_pdf(invoice), f"invoices/{invoice.display_number}.pdf")
    return buffer.getvalue()
