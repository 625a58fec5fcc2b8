from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from tenantry.catalog.registry import get_catalog
from tenantry.catalog.versions import known_versions


class RolloutForm(forms.Form):
    SCOPES = [("instances", _("Chosen instances")), ("percent", _("A percentage")), ("all", _("All"))]

    app = forms.ChoiceField(label=_("App"))
    to_version = forms.CharField(label=_("Version"), max_length=40)
    scope = forms.ChoiceField(label=_("Which instances"), choices=SCOPES, initial="instances")
    instances = forms.CharField(label=_("Instances (names, comma-separated)"), required=False)
    percent = forms.IntegerField(label=_("Percentage"), min_value=1, max_value=100, required=False)
    max_failures = forms.IntegerField(label=_("Stop after this many failures"), min_value=0, initial=0)
    concurrency = forms.IntegerField(label=_("Updates at the same time"), min_value=1, max_value=20, initial=1)
    now = forms.BooleanField(label=_("Ignore the teams' maintenance windows"), required=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        app = self.fields["app"]
        assert isinstance(app, forms.ChoiceField)
        app.choices = [(name, f"{spec.title} ({', '.join(known_versions(spec))})")
                       for name, spec in sorted(get_catalog().items())]

    def clean(self) -> dict:
        data = super().clean() or {}
        if data.get("scope") == "instances" and not (data.get("instances") or "").strip():
            self.add_error("instances", _("Name at least one instance."))
        if data.get("scope") == "percent" and not data.get("percent"):
            self.add_error("percent", _("Give a percentage."))
        return data


class MaintenanceWindowForm(forms.Form):
    DAYS = [(0, _("Monday")), (1, _("Tuesday")), (2, _("Wednesday")), (3, _("Thursday")), (4, _("Friday")),
            (5, _("Saturday")), (6, _("Sunday"))]

    start_time = forms.TimeField(label=_("Starts at (local time)"), widget=forms.TimeInput(attrs={"type": "time"}))
    duration_minutes = forms.IntegerField(label=_("Length (minutes)"), min_value=30, max_value=1440, initial=120)
    weekdays = forms.TypedMultipleChoiceField(label=_("Days (none: every day)"), choices=DAYS, coerce=int,
                                              required=False, widget=forms.CheckboxSelectMultiple)
    timezone = forms.CharField(label=_("Time zone"), max_length=64, initial="UTC")
