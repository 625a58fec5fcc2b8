"""The team's usage: per instance, used / included for the current period, with bars."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from tenantry.accounts.access import Access
from tenantry.dashboard.context import with_team
from tenantry.metering import selectors


@with_team("instance.view")
def usage(request: HttpRequest, access: Access) -> HttpResponse:
    return render(request, "dashboard/usage.html", {"access": access, "nav": "usage",
                                                    "entries": selectors.team_usage(team=access.team)})
