"""A paid checkout always ends with an instance or a visible error (issue 9, item 7).

The customer names the instance before paying, checked with instance creation's own rules; a
name another team's unpaid checkout holds is taken; when the instance still cannot be created
once paid, the customer sees why on the dashboard and picks another name, and the operators are
emailed and see it on their page. Signing in leads a team without a plan to the plan choice.
"""

from __future__ import annotations

import re

import pytest

from tenantry.accounts.models import Role
from tenantry.billing.models import Invoice, Subscription
from tenantry.billing.services import invoice_mark_paid, subscription_checkout, subscription_instance_rename
from tenantry.core.errors import ApplicationError
from tenantry.core.models import AuditEvent
from tenantry.instances.models import Instance, Status
from tests.billing.billing_helpers import make_plan, make_team
from tests.dashboard.helpers import make_user, signed_in
from tests.instances.helpers import create

BAD_NAMES = [
    ("john_doe", "invalid_slug", "may hold only lowercase letters"),  # an email's local part
    ("9lives", "invalid_slug", "starting with a letter"),
    ("jo", "invalid_slug", "must be 3 to 30 characters long"),
    ("x" * 31, "invalid_slug", "must be 3 to 30 characters long"),
    ("www", "reserved_slug", "is reserved"),
]


def _plan():
    return make_plan(allowed_apps=["hello"], memory_mb=128, cpus="0.25")


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "code", "reason"), BAD_NAMES, ids=[n[:8] for n, _, _ in BAD_NAMES])
def test_checkout_refuses_a_bad_name_before_anything_is_owed(name, code, reason):
    team = make_team("john-doe")
    with pytest.raises(ApplicationError) as refused:
        subscription_checkout(team=team, plan=_plan(), interval="month", actor="u", app="hello", instance_slug=name)
    assert refused.value.code == code and reason in refused.value.message
    assert refused.value.details["field"] == "instance_slug"
    assert not Subscription.objects.exists() and not Invoice.objects.exists()


@pytest.mark.django_db
def test_the_proposed_name_is_checked_too_and_the_dashboard_never_guesses():
    plan = _plan()
    with pytest.raises(ApplicationError) as refused:  # the API's proposal: the team's slug, here too short
        subscription_checkout(team=make_team("jd"), plan=plan, interval="month", actor="u", app="hello")
    assert refused.value.code == "invalid_slug"
    with pytest.raises(ApplicationError) as missing:
        subscription_checkout(team=make_team("acme"), plan=plan, interval="month", actor="u", app="hello",
                              propose_instance_slug=False)
    assert missing.value.code == "instance_name_required"
    assert not Subscription.objects.exists()


@pytest.mark.django_db
def test_a_name_held_by_another_teams_unpaid_checkout_is_taken():
    plan = _plan()
    first = subscription_checkout(team=make_team("first"), plan=plan, interval="month", actor="u", app="hello",
                                  instance_slug="Shop-One")
    assert first.instance_slug == "shop-one" and first.status == "incomplete"
    with pytest.raises(ApplicationError) as taken:
        subscription_checkout(team=make_team("second"), plan=plan, interval="month", actor="u", app="hello",
                              instance_slug="shop-one")
    assert taken.value.code == "slug_taken"
    assert Subscription.objects.count() == 1


@pytest.mark.django_db
def test_the_plan_page_shows_why_a_name_is_refused_and_keeps_the_choice():
    plan = make_plan(allowed_apps=["hello"], is_public=True)
    user = make_user("john_doe@example.com")
    team = user.memberships.get().team
    client = signed_in(user)
    url = f"/t/{team.slug}/billing/plans/"
    for name, _, reason in [*BAD_NAMES, ("", "", "Choose a name for your instance.")]:
        page = client.post(url, {"plan": str(plan.pk), "interval": "month", "app": "hello", "instance_slug": name,
                                 "token": f"t-{name}"})
        assert page.status_code == 200
        errors = re.search(r'<ul class="errorlist" id="instance-slug-errors"><li>(.*?)</li>', page.content.decode())
        assert errors and reason in errors[1].replace("&#x27;", "'"), (name, errors)
        assert f'value="{name}"' in page.content.decode()
    assert not Subscription.objects.exists()
    answer = client.post(url, {"plan": str(plan.pk), "interval": "month", "app": "hello", "instance_slug": "johns-app",
                               "token": "t-ok"})
    assert answer.status_code == 302 and "/pay/" in answer["Location"]
    assert Subscription.objects.get(team=team).instance_slug == "johns-app"


@pytest.mark.django_db
def test_signing_in_leads_a_team_without_a_plan_to_the_plan_choice():
    user = make_user("new@example.com")
    team = user.memberships.get().team
    client = signed_in(user)
    assert client.get("/")["Location"] == f"/t/{team.slug}/"  # nothing on sale: the instances
    make_plan(is_public=True)
    assert client.get("/")["Location"] == f"/t/{team.slug}/billing/plans/"
    overview = client.get(f"/t/{team.slug}/").content.decode()
    assert 'id="choose-plan"' in overview and "Create your first instance" not in overview
    # A member who cannot choose the plan is told who can, not sent to a page they cannot use.
    member = make_user("member@example.com", team=team, role=Role.MEMBER)
    member_client = signed_in(member)
    assert member_client.get("/")["Location"] == f"/t/{team.slug}/"
    page = member_client.get(f"/t/{team.slug}/").content.decode()
    assert "Only the team's owner or billing contact can choose the plan." in page


@pytest.mark.django_db
def test_someone_invited_into_a_paying_team_lands_there():
    plan = make_plan(is_public=True)
    paying = make_team("paying")
    subscription_checkout(team=paying, plan=plan, interval="month", actor="u")
    Subscription.objects.filter(team=paying).update(status="active")
    user = make_user("guest@example.com")  # also owns a personal team without a plan
    from tenantry.accounts.models import Membership

    Membership.objects.create(team=paying, user=user, role=Role.ADMIN)
    assert signed_in(user).get("/")["Location"] == "/t/paying/"


@pytest.mark.docker
@pytest.mark.traefik
def test_a_paid_instance_that_cannot_be_created_is_shown_alerted_and_fixable(platform, mailbox, settings):
    staff = make_user("ops@example.com")
    staff.is_staff = True
    staff.save(update_fields=["is_staff"])
    user = make_user("ama@example.com")
    team = user.memberships.get().team
    subscription = subscription_checkout(team=team, plan=_plan(), interval="month", actor="user:ama",
                                         app="hello", instance_slug="ama-shop")
    # Between checkout and payment the name went to an instance made outside any checkout.
    create("ama-shop")
    invoice_mark_paid(invoice=Invoice.objects.get(subscription=subscription), payment=None, actor="test")

    subscription.refresh_from_db()
    assert subscription.status == "active" and not subscription.provisioned
    assert subscription.provision_error_code == "slug_taken" and "ama-shop" in subscription.provision_error
    assert AuditEvent.objects.filter(action="subscription.provision_failed").count() == 1
    # The customer sees it, with the reason, on their dashboard...
    client = signed_in(user)
    overview = client.get(f"/t/{team.slug}/").content.decode()
    assert 'id="provision-error"' in overview and "already exists" in overview
    # ...the operators are emailed and see it on their page.
    alert = mailbox.wait_for("ops@example.com")
    assert "could not be created" in alert["Subject"] and "ama-shop" in mailbox.text(alert)
    assert "slug_taken" in mailbox.text(alert)
    operator_page = signed_in(staff).get("/operator/billing/").content.decode()
    assert re.search(rf'id="awaiting-instances".*data-team="{team.slug}"', operator_page, re.S)

    # A bad new name is refused the same way; a good one creates the instance at once.
    with pytest.raises(ApplicationError) as refused:
        subscription_instance_rename(subscription=subscription, slug="ama_shop", actor="user:ama")
    assert refused.value.code == "invalid_slug"
    answer = client.post(f"/t/{team.slug}/billing/instance-name/", {"instance_slug": "ama-boutique"})
    assert answer.status_code == 302
    subscription.refresh_from_db()
    assert subscription.provisioned and subscription.instance_slug == "ama-boutique"
    assert subscription.provision_error == ""
    instance = Instance.objects.get(team=team)
    assert instance.slug == "ama-boutique" and instance.status == Status.RUNNING
    assert platform.wait_for_body(instance.host, "Hello from ama-boutique")
    assert 'id="provision-error"' not in client.get(f"/t/{team.slug}/").content.decode()
    assert f'data-team="{team.slug}"' not in signed_in(staff).get("/operator/billing/").content.decode()
