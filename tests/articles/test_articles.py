"""The articles services on an in-memory automation backend (the same flows against a real n8n
are in test_articles_n8n.py): each article and failure recorded once, each article metered once,
the weekly limit pausing only the publishing workflow until Monday in the team's time zone, and
the page and API scoped to the team."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client

from tenantry.accounts.services.api_keys import api_key_create
from tenantry.accounts.services.teams import team_create
from tenantry.articles import services
from tenantry.articles.models import Article, PublishRun, RunOutcome
from tenantry.automations.models import PauseReason, WorkflowState
from tenantry.automations.services import workflow_run_now, workflow_set_active
from tenantry.core.errors import ApplicationError
from tenantry.core.schedule import week_bounds
from tenantry.events.dispatch import dispatch_pending_events
from tenantry.events.models import Event
from tenantry.instances.models import Operation, OperationKind, Status
from tenantry.metering.models import UsageEvent
from tenantry.notifications.models import Notification
from tests.articles.helpers import WF3, FakeAutomation, seo_instance
from tests.billing.entitlement_helpers import subscribe
from tests.dashboard.helpers import make_user, signed_in

pytestmark = pytest.mark.django_db
PARIS = ZoneInfo("Europe/Paris")
# Wednesday 2026-03-25 10:00 in Paris; that week ends on Monday 2026-03-30 00:00 Paris (CEST,
# the clocks went forward on Sunday 29th) = 2026-03-29 22:00 UTC.
WEDNESDAY = datetime(2026, 3, 25, 10, 0, tzinfo=PARIS)
WEEK_END = datetime(2026, 3, 29, 22, 0, tzinfo=UTC)


@pytest.fixture()
def app(monkeypatch) -> FakeAutomation:
    fake = FakeAutomation()
    monkeypatch.setattr(services, "automation_for", lambda instance: fake)
    monkeypatch.setattr("tenantry.automations.services.automation_for", lambda instance: fake)
    return fake


def _team(name: str, *, articles_week: int | None = 2, zone: str = "Europe/Paris"):
    owner = make_user(f"{name.lower()}@example.com")
    team = team_create(name=name, owner=owner, actor="test")
    team.time_zone = zone
    team.save(update_fields=["time_zone"])
    limits = {"articles_week": articles_week} if articles_week is not None else {}
    subscribe(team, app_limits={"n8n": limits})
    return team, owner


def _articles_events(instance) -> list[str]:
    return sorted(UsageEvent.objects.filter(instance=instance, meter__code="articles")
                  .values_list("transaction_id", flat=True))


def test_week_bounds_follow_the_team_clock_across_a_daylight_saving_change():
    start, end = week_bounds(WEDNESDAY, PARIS)
    assert start == datetime(2026, 3, 22, 23, 0, tzinfo=UTC)  # Monday 00:00 CET
    assert end == WEEK_END  # next Monday 00:00 CEST: that week lasted 167 hours
    assert end - start == timedelta(hours=167)
    # Sunday 23:59 in Paris is still that week; Monday 00:00 is the next one.
    assert week_bounds(datetime(2026, 3, 29, 23, 59, tzinfo=PARIS), PARIS) == (start, end)
    assert week_bounds(datetime(2026, 3, 30, 0, 0, tzinfo=PARIS), PARIS)[0] == end
    assert week_bounds(datetime(2026, 3, 29, 22, 30, tzinfo=UTC), ZoneInfo("UTC"))[1] == \
        datetime(2026, 3, 30, tzinfo=UTC)


def test_runs_articles_and_failures_are_recorded_and_metered_once(app):
    team, _ = _team("Writers", articles_week=None)
    instance = seo_instance(team, "writers")
    app.publish(101, title="First")
    app.publish(0, error="Bad request - please check your parameters (model not found)")
    app.publish(102, title="Second")

    report = services.articles_sync(instance=instance)
    assert (report.runs, report.articles, report.failures) == (3, 2, 1)
    assert sorted(Article.objects.filter(instance=instance).values_list("post_id", "title")) == \
        [("101", "First"), ("102", "Second")]
    failed = PublishRun.objects.get(instance=instance, outcome=RunOutcome.FAILED)
    assert failed.reason == "Bad request - please check your parameters (model not found)"
    assert failed.failed_node == "Write the article"
    assert _articles_events(instance) == [f"article:{instance.pk}:101", f"article:{instance.pk}:102"]
    assert Event.objects.filter(type="articles.run_failed", data__execution_id="2").count() == 1

    # A re-sync reads nothing again (no details fetched), records and meters nothing twice.
    reads = list(app.detail_reads)
    again = services.articles_sync(instance=instance)
    assert (again.runs, again.articles, again.failures) == (0, 0, 0)
    assert app.detail_reads == reads
    # A retried run that answers with a post already recorded: the run is kept, the post is not twice.
    app.publish(102, title="Second")
    retried = services.articles_sync(instance=instance)
    assert (retried.runs, retried.articles) == (1, 0)
    assert Article.objects.filter(instance=instance).count() == 2
    assert len(_articles_events(instance)) == 2
    # Even when the stored runs are lost, the meter's transaction ids keep the count exact.
    PublishRun.objects.filter(instance=instance).delete()
    Article.objects.filter(instance=instance).delete()
    services.articles_sync(instance=instance)
    assert Article.objects.filter(instance=instance).count() == 2
    assert len(_articles_events(instance)) == 2
    # The other workflows were never touched (no limit on this plan).
    assert app.calls == []


def test_the_weekly_limit_pauses_only_the_publishing_workflow_until_monday_in_the_team_zone(app):
    team, owner = _team("Limited")
    instance = seo_instance(team, "limited")
    with time_machine.travel(WEDNESDAY, tick=False):
        app.publish(1)
        assert services.articles_sync(instance=instance).paused is False
        assert app.active[WF3] is True
        app.publish(2)
        report = services.articles_sync(instance=instance)
        assert report.paused and not report.resumed
        # WF3 alone is off; the customer's other workflows are as they were.
        assert app.calls == [(WF3, False)]
        assert app.active == {"wf-expand": True, "wf-cluster": True, WF3: False, "wf-mine": True}
        state = WorkflowState.objects.get(instance=instance, workflow_id=WF3)
        assert (state.paused_for, state.paused_until) == (PauseReason.ARTICLES, WEEK_END)
        paused = Event.objects.get(type="articles.paused")
        assert paused.data["published"] == 2 and paused.data["limit"] == 2
        assert paused.data["until_date"] == "2026-03-30 00:00"  # on the team's clock
        dispatch_pending_events()
        note = Notification.objects.get(user=owner, event_type="articles.paused")
        assert note.title == "limited: this week's 2 articles are published; publishing is paused until " \
                             "2026-03-30 00:00"
        assert note.url == f"/t/{team.slug}/instances/limited/articles/"

        # A third run is refused, with the reason; activating it by hand too.
        with pytest.raises(ApplicationError) as refused:
            workflow_run_now(instance=instance, workflow_id=WF3, actor="test")
        assert refused.value.code == "workflow_paused" and "this week's articles" in refused.value.message
        with pytest.raises(ApplicationError) as refused:
            workflow_set_active(instance=instance, workflow_id=WF3, active=True, actor="test")
        assert refused.value.code == "workflow_paused"
        # Other workflows still run on demand.
        workflow_run_now(instance=instance, workflow_id="wf-mine", actor="test")
        # Passes while paused change nothing and say nothing again.
        services.articles_sync(instance=instance)
        assert app.calls == [(WF3, False)]
        assert Event.objects.filter(type="articles.paused").count() == 1

    # Sunday 23:59 in Paris: still this week. Monday 00:00 in Paris: WF3 is back, the team told.
    with time_machine.travel(datetime(2026, 3, 29, 23, 59, tzinfo=PARIS), tick=False):
        assert services.articles_sync(instance=instance).resumed is False
        assert app.active[WF3] is False
    with time_machine.travel(datetime(2026, 3, 30, 0, 0, 30, tzinfo=PARIS), tick=False):
        report = services.articles_sync(instance=instance)
        assert report.resumed and not report.paused
        assert app.calls == [(WF3, False), (WF3, True)]
        state.refresh_from_db()
        assert (state.paused_for, state.paused_until) == ("", None)
        assert Event.objects.filter(type="articles.resumed").count() == 1
        workflow_run_now(instance=instance, workflow_id=WF3, actor="test")  # allowed again


def test_a_publishing_workflow_the_customer_turned_off_is_left_off(app):
    team, _ = _team("Careful")
    instance = seo_instance(team, "careful")
    app.active[WF3] = False  # turned off in n8n by the customer, before the limit
    with time_machine.travel(WEDNESDAY, tick=False):
        app.publish(1)
        app.publish(2)
        assert services.articles_sync(instance=instance).paused is False
    with time_machine.travel(WEEK_END + timedelta(hours=1), tick=False):
        assert services.articles_sync(instance=instance).resumed is False
    assert app.calls == [] and app.active[WF3] is False
    assert not Event.objects.filter(type__in=["articles.paused", "articles.resumed"]).exists()


def test_a_new_week_hands_the_workflow_to_a_running_executions_pause(app):
    team, _ = _team("Busy")
    instance = seo_instance(team, "busy")
    with time_machine.travel(WEDNESDAY, tick=False):
        app.publish(1)
        app.publish(2)
        assert services.articles_sync(instance=instance).paused
    # Meanwhile the month's executions ran out and the plan blocks: the other workflows paused.
    later = WEEK_END + timedelta(days=3)
    WorkflowState.objects.filter(instance=instance, workflow_id="wf-mine").update(
        paused_for=PauseReason.EXECUTIONS, paused_until=later)
    with time_machine.travel(WEEK_END + timedelta(minutes=5), tick=False):
        assert services.articles_sync(instance=instance).resumed is False
    assert app.active[WF3] is False
    state = WorkflowState.objects.get(instance=instance, workflow_id=WF3)
    assert (state.paused_for, state.paused_until) == (PauseReason.EXECUTIONS, later)


def test_page_and_api_show_the_teams_articles_only(app):
    team, owner = _team("Shown")
    other, stranger = _team("Other")
    instance = seo_instance(team, "shown")
    with time_machine.travel(WEDNESDAY, tick=False):
        app.publish(7, title="Seven <b>tips</b>")
        app.publish(0, error="The service refused the connection - perhaps it is offline")
        app.publish(8, title="Eight")
        services.articles_sync(instance=instance)  # what the two-minute task does

        api = Client(HTTP_AUTHORIZATION=f"Bearer {api_key_create(team=team, name='k').plaintext}")
        answer = api.get("/api/v1/instances/shown/articles")
        assert answer.status_code == 200, answer.content
        body = answer.json()
        assert [a["post_id"] for a in body["articles"]] == ["8", "7"]
        assert body["articles"][1] == {"post_id": "7", "title": "Seven <b>tips</b>", "url": "http://blog.example/?p=7",
                                       "status": "publish", "published_at": "2026-03-25T09:00:00Z",
                                       "execution_id": "1"}
        assert body["week"]["published"] == 2 and body["week"]["limit"] == 2
        assert body["week"]["time_zone"] == "Europe/Paris"
        assert body["week"]["paused_until"] == "2026-03-29T22:00:00Z"
        assert [(r["execution_id"], r["reason"]) for r in body["failed_runs"]] == \
            [("2", "The service refused the connection - perhaps it is offline")]
        assert body["total"] == 2
        page = api.get("/api/v1/instances/shown/articles?limit=1&offset=1").json()
        assert [a["post_id"] for a in page["articles"]] == ["7"] and page["total"] == 2
        assert api.get("/api/v1/instances/shown/articles?limit=0").status_code == 422
        refreshed = api.post("/api/v1/instances/shown/articles/refresh")
        assert refreshed.status_code == 200 and refreshed.json()["articles"] == 0

        # Another team's key and another team's member: a 404, as for a missing instance.
        foreign = Client(HTTP_AUTHORIZATION=f"Bearer {api_key_create(team=other, name='k').plaintext}")
        for answer in (foreign.get("/api/v1/instances/shown/articles"),
                       foreign.post("/api/v1/instances/shown/articles/refresh")):
            assert answer.status_code == 404 and answer.json()["code"] == "instance_not_found"
        assert signed_in(stranger).get(f"/t/{other.slug}/instances/shown/articles/").status_code == 404
        assert signed_in(stranger).get(f"/t/{team.slug}/instances/shown/articles/").status_code == 404

        html = signed_in(owner).get(f"/t/{team.slug}/instances/shown/articles/").content.decode()
        assert "Seven &lt;b&gt;tips&lt;/b&gt;" in html and 'href="http://blog.example/?p=8"' in html
        assert "2 of 2 articles" in html
        assert 'id="articles-paused"' in html and "turned off until 2026-03-30 00:00 (Europe/Paris)" in html
        assert "The service refused the connection - perhaps it is offline" in html
        # The instance page links to it.
        detail = signed_in(owner).get(f"/t/{team.slug}/instances/shown/").content.decode()
        assert f'href="/t/{team.slug}/instances/shown/articles/"' in detail


def test_the_page_and_api_read_nothing_from_the_app_and_say_when_it_was_last_read(app):
    """A GET only reads what was recorded (it used to read n8n, record and meter inside the
    request): the two-minute task and "Read from n8n now" (POST) read the app."""
    team, owner = _team("Reader")
    instance = seo_instance(team, "reader")
    app.publish(5, title="Not read yet")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {api_key_create(team=team, name='k').plaintext}")
    page = f"/t/{team.slug}/instances/reader/articles/"

    body = api.get("/api/v1/instances/reader/articles").json()
    html = signed_in(owner).get(page).content.decode()

    assert app.detail_reads == [] and app.calls == []  # the app was not asked
    assert body["articles"] == [] and body["read_at"] is None
    assert not PublishRun.objects.filter(instance=instance).exists() and _articles_events(instance) == []
    assert "Not read from n8n yet" in html

    with time_machine.travel(WEDNESDAY, tick=False):
        services.sync_all_articles()  # the periodic task
    body = api.get("/api/v1/instances/reader/articles").json()
    assert [a["post_id"] for a in body["articles"]] == ["5"] and body["read_at"] == "2026-03-25T09:00:00Z"
    assert "Last read from n8n: 2026-03-25" in signed_in(owner).get(page).content.decode()
    assert app.detail_reads == ["1"]  # read once, by the task


def test_an_instance_without_the_publishing_template_is_refused_clearly(app):
    team, _ = _team("Plain")
    instance = seo_instance(team, "plain")
    instance.options = {"templates": ["echo"]}
    instance.save(update_fields=["options"])
    with pytest.raises(ApplicationError) as refused:
        services.articles_sync(instance=instance)
    assert refused.value.code == "no_publishing_workflow"
    assert services.sync_all_articles() == 0


def test_a_hibernated_instance_is_woken_when_its_articles_pause_ends(app):
    team, _ = _team("Sleepy")
    instance = seo_instance(team, "sleepy")
    with time_machine.travel(WEDNESDAY, tick=False):
        app.publish(1)
        app.publish(2)
        assert services.articles_sync(instance=instance).paused
    instance.status = Status.HIBERNATED
    instance.save(update_fields=["status"])
    # Still paused: left asleep. The week over: woken (then the next pass turns WF3 back on).
    assert services.wake_for_ended_pauses(now=WEEK_END - timedelta(minutes=1)) == []
    assert services.wake_for_ended_pauses(now=WEEK_END + timedelta(minutes=1)) == ["sleepy"]
    operation = Operation.objects.get(instance=instance)
    assert (operation.kind, operation.actor) == (OperationKind.WAKE, "articles:limit")
    # A second pass while it wakes does not start another operation.
    assert services.wake_for_ended_pauses(now=WEEK_END + timedelta(minutes=2)) == []


def test_the_articles_endpoints_are_in_the_openapi_document():
    schema = Client().get("/api/v1/openapi.json").json()
    listed = schema["paths"]["/api/v1/instances/{ref}/articles"]["get"]
    assert listed["responses"]["200"]["content"]["application/json"]["schema"] == \
        {"$ref": "#/components/schemas/ArticlesOut"}
    assert {p["name"] for p in listed["parameters"]} == {"ref", "limit", "offset"}
    assert set(schema["components"]["schemas"]["ArticlesOut"]["properties"]) == \
        {"week", "read_at", "total", "articles", "failed_runs"}
    assert set(schema["components"]["schemas"]["ArticleOut"]["properties"]) == \
        {"post_id", "title", "url", "status", "published_at", "execution_id"}
    assert "404" in schema["paths"]["/api/v1/instances/{ref}/articles/refresh"]["post"]["responses"]


def test_out_of_range_pages_are_refused_with_the_api_error_shape(app):
    team, _ = _team("Pages")
    seo_instance(team, "pages")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {api_key_create(team=team, name='k').plaintext}")
    for query in ("limit=0", "limit=101", "offset=-1", f"offset={2**63}"):
        answer = api.get(f"/api/v1/instances/pages/articles?{query}")
        assert answer.status_code == 422, (query, answer.content)
        assert answer.json()["code"] == "invalid_input"
    assert api.get("/api/v1/instances/pages/articles?limit=100&offset=1000000000").json()["articles"] == []
