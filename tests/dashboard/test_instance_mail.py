from __future__ import annotations

import pytest
from django.urls import reverse

from tenantry.accounts.models import Role
from tests.billing.entitlement_helpers import subscribe
from tests.dashboard.helpers import make_user, signed_in

pytestmark = [pytest.mark.docker]


def test_instance_ready_mail_names_its_url(platform, mailbox):
    owner = make_user("owner@example.com")
    team = owner.memberships.get().team
    subscribe(team)
    member = make_user("member@example.com", team=team, role=Role.MEMBER)
    make_user("billing@example.com", team=team, role=Role.BILLING)
    response = signed_in(member).post(reverse("dashboard:instance_create", args=[team.slug]),
                                      {"app": "hello", "slug": "mailed"})
    assert response.status_code == 302
    for address in ("member@example.com", "owner@example.com"):  # who asked, and the owners
        message = mailbox.wait_for(address)
        assert message["Subject"] == "mailed is ready"
        assert "http://mailed.localhost:" in mailbox.text(message)
        assert f"/t/{team.slug}/instances/mailed/" in mailbox.html(message)
    assert mailbox.to("billing@example.com") == []
