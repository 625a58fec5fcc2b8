"""The dashboard's create form shows the plan's answer on the form, and creates nothing.
(The form asks no size: a customer's instance gets the plan's, so `size_over_plan` cannot come
from here; the API and CLI tests cover it.)"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils.html import escape

from tenantry.accounts.models import Role
from tenantry.billing.models import Subscription, SubscriptionStatus
from tenantry.instances.models import Instance, Status
from tenantry.runtime.placement import default_server
from tests.billing.entitlement_helpers import subscribe
from tests.dashboard.helpers import make_user, signed_in

pytestmark = [pytest.mark.django_db, pytest.mark.docker]


def _submit(client, team_slug: str, app: str = "hello", slug: str = "from-form"):
    return client.post(f"/t/{team_slug}/instances/new/", {"app": app, "slug": slug})


def _shows_error(response, message: str) -> str:
    assert response.status_code == 200
    page = response.content.decode()
    assert f"<li>{escape(message)}</li>" in page and 'class="errorlist"' in page
    assert not Instance.objects.filter(slug="from-form").exists()
    return page


def test_the_create_form_shows_each_entitlement_refusal(docker_client):
    owner = make_user("owner@formplan.test")
    team = owner.memberships.get().team
    client = signed_in(owner)
    page = _shows_error(_submit(client, team.slug), "Choose a plan to create instances.")
    assert f'<a id="plans-link" href="/t/{team.slug}/billing/plans/">' in page  # the owner may choose one
    member = signed_in(make_user("member@formplan.test", team=team, role=Role.MEMBER))
    page = _shows_error(_submit(member, team.slug), "Choose a plan to create instances.")
    assert "plans-link" not in page  # a member cannot see billing: no link to a page they may not open

    subscription = subscribe(team, allowed_apps=["hello"], max_instances=1, memory_mb=256, cpus=Decimal("0.5"))
    _shows_error(_submit(client, team.slug, app="wordpress"), f"The {subscription.plan.name} plan does not "
                                                              "include wordpress.")
    Instance.objects.create(team=team, slug="formplan-one", app="hello", server=default_server(), memory_mb=64,
                            cpus=Decimal("0.25"), pids=64, status=Status.RUNNING)
    _shows_error(_submit(client, team.slug), f"The {subscription.plan.name} plan allows 1 instance(s) and the team "
                                             "has 1: delete one or change plan.")
    Subscription.objects.filter(pk=subscription.pk).update(status=SubscriptionStatus.PAST_DUE)
    _shows_error(_submit(client, team.slug), "The team's subscription is not in good standing: pay the open "
                                             "invoice to create instances.")

    Subscription.objects.filter(pk=subscription.pk).update(status=SubscriptionStatus.ACTIVE)
    Instance.objects.filter(slug="formplan-one").update(status=Status.DELETED)
    created = _submit(client, team.slug)
    assert created.status_code == 302 and created["Location"].endswith("/instances/from-form/")
    assert Instance.objects.get(slug="from-form").memory_mb == 256
