from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from tenantry.accounts.models import ApiKeyBilling, ApiKeyScope, Role
from tenantry.catalog.registry import get_catalog


def app_choices() -> list[tuple[str, str]]:
    return [(spec.name, spec.title) for spec in get_catalog().values()]


class InstanceCreateForm(forms.Form):
    app = forms.ChoiceField(label=_("App"), choices=app_choices)
    slug = forms.CharField(label=_("Name"), max_length=30,
                           help_text=_("3 to 30 lowercase letters, digits and hyphens; part of the address."))


class InstanceDeleteForm(forms.Form):
    confirm = forms.CharField(label=_("Type the instance's name to confirm"), max_length=40)

    def __init__(self, *args: object, expected: str, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.expected = expected

    def clean_confirm(self) -> str:
        value = self.cleaned_data["confirm"].strip()
        if value != self.expected:
            raise forms.ValidationError(_("The name does not match."))
        return value


def _grantable_roles(can_manage_owners: bool) -> list[tuple[str, Any]]:
    """The roles offered to someone managing members: only owners make owners."""
    return [(value, label) for value, label in Role.choices if can_manage_owners or value != Role.OWNER]


class InvitationForm(forms.Form):
    email = forms.EmailField(label=_("Email"))
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.MEMBER)

    def __init__(self, *args: object, can_manage_owners: bool, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["role"].choices = _grantable_roles(can_manage_owners)  # type: ignore[attr-defined]


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)

    def __init__(self, *args: object, can_manage_owners: bool, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["role"].choices = _grantable_roles(can_manage_owners)  # type: ignore[attr-defined]


class ApiKeyForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    scope = forms.ChoiceField(label=_("Access"), choices=ApiKeyScope.choices, initial=ApiKeyScope.WRITE)
    billing = forms.ChoiceField(label=_("Billing"), choices=ApiKeyBilling.choices, required=False,
                                initial=ApiKeyBilling.NONE)


class ProfileForm(forms.Form):
    first_name = forms.CharField(label=_("First name"), max_length=150, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    language = forms.ChoiceField(label=_("Language"),
                                 choices=[("", _("Same as my browser")), *settings.LANGUAGES], required=False)


class TeamForm(forms.Form):
    name = forms.CharField(label=_("Team name"), max_length=100)
