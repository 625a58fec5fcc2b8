"""What Tenantry needs from an automation app (n8n, ...): its workflows and their executions.

Inputs and outputs are frozen dataclasses; implementations raise only BackendError /
TransientBackendError (the runtime's), with the app's own words in the message.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime

from tenantry.runtime.backends.base import BackendError


@dataclass(frozen=True)
class AutomationTarget:
    """Where the app answers and how Tenantry authenticates to it."""

    base_url: str
    api_key: str = field(repr=False)
    admin_login: str = ""
    admin_password: str = field(default="", repr=False)
    # Every secret Tenantry holds for the instance: never quoted back from the app's answers.
    secrets: tuple[str, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class Workflow:
    id: str
    name: str
    active: bool
    triggers: tuple[str, ...]  # human names of what starts it: "webhook POST /echo", "schedule"
    updated_at: datetime | None = None


@dataclass(frozen=True)
class Execution:
    id: str
    workflow_id: str
    status: str  # success | error | running | waiting | canceled | crashed | new
    mode: str  # webhook | trigger | manual | ...
    started_at: datetime | None
    stopped_at: datetime | None

    @property
    def duration_ms(self) -> int | None:
        if self.started_at is None or self.stopped_at is None:
            return None
        return int((self.stopped_at - self.started_at).total_seconds() * 1000)


@dataclass(frozen=True)
class Schedule:
    """A time trigger of an active workflow: cron expressions (5 or 6 fields, see
    automations/schedules.py) fired in `time_zone`. For rules a cron cannot say exactly ("every
    2 weeks"), the expressions fire at least as often as the app does, never less."""

    workflow_id: str
    workflow_name: str
    node: str
    expressions: tuple[str, ...]
    time_zone: str


@dataclass(frozen=True)
class PublishedPost:
    """A post a workflow run published on a WordPress site, as the site answered it."""

    post_id: str
    title: str
    url: str
    status: str  # WordPress's: publish, future, draft, pending, private
    published_at: datetime | None


@dataclass(frozen=True)
class PublishRun:
    """One finished run of a publishing workflow: the posts it published, and why it failed
    when it did (the app's words, secrets removed)."""

    execution: Execution
    posts: tuple[PublishedPost, ...] = ()
    error: str = ""
    failed_node: str = ""


@dataclass(frozen=True)
class RunResult:
    execution_id: str | None
    how: str  # what was done to start it, for the person who clicked


class AutomationBackend(ABC):
    def __init__(self, target: AutomationTarget):
        self.target = target

    @abstractmethod
    def workflows(self) -> list[Workflow]:
        """Every workflow of the app."""

    @abstractmethod
    def set_active(self, workflow_id: str, active: bool) -> Workflow:
        """Activate (triggers listen) or deactivate a workflow."""

    @abstractmethod
    def run_now(self, workflow_id: str) -> RunResult:
        """Start one execution of the workflow now, whatever its trigger."""

    @abstractmethod
    def executions(self, *, limit: int = 100, pages: int = 5) -> list[Execution]:
        """The most recent executions, newest first."""

    def publish_runs(self, workflow_id: str, *, known: frozenset[str], limit: int = 50) -> list[PublishRun]:
        """The finished runs of a workflow that publishes posts (on WordPress), newest first,
        except those whose execution id is in `known` (already read: their details are not
        fetched again)."""
        raise BackendError("this app does not tell what its workflows published", code="not_supported")

    def replace_workflow(self, workflow_id: str, body: dict) -> tuple[dict, Workflow]:
        """Replace a workflow's definition by `body` (name, nodes, connections, settings), keeping
        the credentials its nodes use and whether it is active. Returns the definition it had
        (to put it back) and the workflow as it is now. Used by template updates."""
        raise BackendError("this app cannot replace a workflow", code="not_supported")
    def schedules(self) -> list[Schedule]:
        """The time triggers of the active workflows (empty when the app has none)."""
        raise BackendError("this app does not tell its schedules", code="not_supported")

    def login_cookies(self) -> dict[str, str]:
        """Sign in as the app's admin and return the session cookies the app set (name → value),
        for handing the session to the customer's browser on the app's own address."""
        raise BackendError("this app cannot hand a signed-in session over", code="not_supported")
