"""An in-memory automation backend for the articles services' unit tests (the real n8n is in
test_articles_n8n.py): workflows that can be (de)activated, and finished publishing runs."""

from __future__ import annotations

from datetime import UTC, datetime

from django.utils import timezone

from tenantry.accounts.models import Team
from tenantry.automations.backends.base import (
    AutomationBackend,
    AutomationTarget,
    Execution,
    PublishedPost,
    PublishRun,
    RunResult,
    Workflow,
)
from tenantry.instances.models import Instance
from tenantry.instances.secrets import store_output
from tests.metering.helpers import instance_row

SEO_TEMPLATES = ["seo-1-expand", "seo-2-cluster", "seo-3-publish"]
WF3 = "wf-publish"


class FakeAutomation(AutomationBackend):
    """The app as a dict of workflows (id → active) and a list of its publishing runs."""

    def __init__(self) -> None:
        super().__init__(AutomationTarget(base_url="http://fake.invalid", api_key="fake-api-key-123456"))
        self.active = {"wf-expand": True, "wf-cluster": True, WF3: True, "wf-mine": True}
        self.runs: list[PublishRun] = []  # oldest first, as they happen
        self.detail_reads: list[str] = []  # execution ids whose details were fetched
        self.calls: list[tuple[str, bool]] = []  # set_active calls

    def workflows(self) -> list[Workflow]:
        return [Workflow(id=wid, name=wid, active=on, triggers=()) for wid, on in self.active.items()]

    def set_active(self, workflow_id: str, active: bool) -> Workflow:
        self.calls.append((workflow_id, active))
        self.active[workflow_id] = active
        return Workflow(id=workflow_id, name=workflow_id, active=active, triggers=())

    def run_now(self, workflow_id: str) -> RunResult:
        return RunResult(execution_id=None, how="fake")

    def executions(self, *, limit: int = 100, pages: int = 5) -> list[Execution]:
        return [run.execution for run in reversed(self.runs)]

    def publish_runs(self, workflow_id: str, *, known: frozenset[str], limit: int = 50) -> list[PublishRun]:
        fresh = [run for run in reversed(self.runs) if run.execution.id not in known][:limit]
        self.detail_reads += [run.execution.id for run in fresh]
        return fresh

    def publish(self, post_id: int, *, title: str = "", when: datetime | None = None, error: str = "") -> None:
        """One more finished run of WF3: a post published, or (with `error`) a failure."""
        when = when or timezone.now()
        number = str(len(self.runs) + 1)
        execution = Execution(id=number, workflow_id=WF3, status="error" if error else "success", mode="trigger",
                              started_at=when, stopped_at=when)
        posts = () if error else (PublishedPost(post_id=str(post_id), title=title or f"Post {post_id}",
                                                url=f"http://blog.example/?p={post_id}", status="publish",
                                                published_at=when.astimezone(UTC)),)
        self.runs.append(PublishRun(execution=execution, posts=posts, error=error,
                                    failed_node="Write the article" if error else ""))


def seo_instance(team: Team, slug: str) -> Instance:
    """A running n8n row whose hooks imported the SEO templates (WF3's id in the outputs)."""
    instance = instance_row(team, slug, app="n8n")
    instance.options = {"templates": SEO_TEMPLATES}
    instance.provisioned_at = timezone.now()
    instance.save(update_fields=["options", "provisioned_at"])
    store_output(instance, "workflows", [{"id": "wf-expand", "name": "SEO 1"}, {"id": "wf-cluster", "name": "SEO 2"},
                                         {"id": WF3, "name": "SEO 3"}], sensitive=False)
    return instance
