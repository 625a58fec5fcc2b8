"""The plan's weekly articles limit against the real chain: n8n's SEO workflows publishing on a real
WordPress (with its MariaDB), only the language model a stand-in (tests/llm_stub.py). With 2
articles a week, the third run publishes nothing and the customer is told why (the run refused,
`articles.paused`, the Articles page); a new week on the team's clock resumes publishing.
(tests/articles/test_articles_n8n.py checks the same policy in detail with stand-in workflows.)"""

from __future__ import annotations

import html
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from tenantry.accounts.services.teams import team_create
from tenantry.core.schedule import team_time_zone, week_bounds
from tenantry.events.dispatch import dispatch_pending_events
from tenantry.notifications.models import Notification
from tests.apps.seo_helpers import (
    LLM_KEY,
    SEO_TEMPLATES,
    execution_error,
    finished_executions,
    llm,  # noqa: F401 (fixture)
    posts,
    run_now,
    wait_for_executions,
    workflow_ids,
)
from tests.apps.test_n8n import API, api_client, provisioned
from tests.apps.test_wordpress import app_password, provisioned_wordpress
from tests.billing.entitlement_helpers import subscribe
from tests.conftest import wait_for
from tests.dashboard.helpers import make_user, signed_in
from tests.llm_stub import TEST_APP, article, docker_host_address, variations
from tests.llm_stub import clusters as stub_clusters

pytestmark = [pytest.mark.docker, pytest.mark.traefik, pytest.mark.n8n, pytest.mark.wordpress, pytest.mark.slow]
SEED = "compost"
CLUSTERS = [", ".join(c) for c in stub_clusters(variations(SEED))]


@pytest.mark.timeout(1800)
def test_two_articles_a_week_then_nothing_published_and_the_reason_then_a_new_week(
        platform, llm, docker_client):  # noqa: F811
    owner = make_user("limited@example.com")
    team = team_create(name="Limited", owner=owner, actor="test")
    subscribe(team, memory_mb=1024, cpus=1, app_limits={TEST_APP: {"articles_week": 2}})
    press = provisioned_wordpress("limited-press", team=team)
    llm.site_door.site_host = press.host
    flows = provisioned("limited-seo", app_name=TEST_APP, team=team, templates=SEO_TEMPLATES, inputs={
        "openai_api_key": LLM_KEY, "openai_base_url": llm.base_url(docker_host_address(docker_client)),
        "seed_keyword": SEED, "wordpress_url": llm.site_door.url, "wordpress_username": "admin",
        "wordpress_app_password": app_password(press)})
    ids = workflow_ids(flows)
    api = api_client(team)
    before = {p["id"] for p in posts(platform, press)}

    def new_titles() -> list[str]:
        return sorted(html.unescape(p["title"]["rendered"]) for p in posts(platform, press) if p["id"] not in before)

    def refresh() -> dict:
        answer = api.post(f"{API}/{flows.slug}/articles/refresh")
        assert answer.status_code == 200, answer.content
        return answer.json()

    # 1. The weekly chain (SEO 1 → 2 → 3) publishes the first cluster's article on WordPress.
    run_now(flows, ids["seo-1"])
    wait_for(lambda: len(new_titles()) == 1 or None, timeout=900, interval=2, what="the first post on WordPress")
    [done] = wait_for_executions(platform, flows, ids["seo-3"], 1)
    assert done["status"] == "success", execution_error(done)
    assert refresh()["paused"] is False
    # 2. The second run publishes the second cluster: the week's 2 articles are out, SEO 3 pauses.
    run_now(flows, ids["seo-3"])
    wait_for(lambda: len(new_titles()) == 2 or None, timeout=300, interval=2, what="the second post")
    wait_for_executions(platform, flows, ids["seo-3"], 2)
    assert new_titles() == sorted(article(c)["title"] for c in CLUSTERS[:2])
    assert refresh()["paused"] is True
    week = api.get(f"{API}/{flows.slug}/articles").json()["week"]
    assert (week["published"], week["limit"]) == (2, 2) and week["paused_until"]
    active = {w["id"]: w["active"] for w in api.get(f"{API}/{flows.slug}/workflows").json()}
    assert active == {ids["seo-1"]: True, ids["seo-2"]: True, ids["seo-3"]: False}  # SEO 3 alone is off

    # 3. The third run publishes nothing and says why: "Run now" on SEO 3 is refused with the
    # reason; the weekly chain run again stores new clusters but reaches no publication.
    third = api.post(f"{API}/{flows.slug}/workflows/{ids['seo-3']}/run")
    assert third.status_code == 409 and third.json()["code"] == "workflow_paused", third.content
    assert "this week's articles" in third.json()["message"]
    handed = len(finished_executions(platform, flows, ids["seo-2"]))
    run_now(flows, ids["seo-1"])
    wait_for_executions(platform, flows, ids["seo-2"], handed + 1, timeout=300)
    assert len(finished_executions(platform, flows, ids["seo-3"])) == 2
    assert len(new_titles()) == 2
    dispatch_pending_events()
    note = Notification.objects.get(user=owner, event_type="articles.paused")
    assert "this week's 2 articles are published" in note.title
    page = signed_in(owner).get(f"/t/{team.slug}/instances/{flows.slug}/articles/").content.decode()
    assert 'id="articles-paused"' in page and "2 of 2 articles" in page

    # 4. A new week on the team's clock: SEO 3 is active again and publishes the next cluster.
    _, week_end = week_bounds(timezone.now(), team_time_zone(team))
    with time_machine.travel(week_end + timedelta(minutes=1), tick=True):
        assert refresh()["resumed"] is True
        run_now(flows, ids["seo-3"])
        wait_for(lambda: len(new_titles()) == 3 or None, timeout=300, interval=2, what="the new week's post")
        latest = wait_for_executions(platform, flows, ids["seo-3"], 3)[0]
        assert latest["status"] == "success", execution_error(latest)
        resumed = refresh()
        assert resumed["articles"] == 1 and resumed["paused"] is False
    assert new_titles() == sorted(article(c)["title"] for c in CLUSTERS[:3])
