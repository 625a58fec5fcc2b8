from __future__ import annotations

from datetime import datetime

from ninja import Field, Schema


class ArticleOut(Schema):
    post_id: str = Field(description="The post's id on the WordPress site")
    title: str
    url: str
    status: str = Field(description="WordPress's status of the post: publish, future, draft, ...")
    published_at: datetime | None
    execution_id: str = Field(description="The n8n execution that published it")


class FailedRunOut(Schema):
    execution_id: str
    status: str = Field(description="n8n's status of the run: error, canceled, crashed")
    reason: str = Field(description="Why it failed, in n8n's words (credentials removed)")
    failed_node: str = Field(description="The workflow step it stopped at")
    started_at: datetime | None
    stopped_at: datetime | None


class ArticlesWeekOut(Schema):
    start: datetime
    end: datetime
    time_zone: str = Field(description="Weeks run Monday 00:00 to Monday 00:00 in the team's time zone")
    published: int
    limit: int | None = Field(description="The plan's articles per week (None: unlimited)")
    paused_until: datetime | None = Field(description="The publishing workflow is paused (limit reached) until then")


class ArticlesOut(Schema):
    week: ArticlesWeekOut
    read_at: datetime | None = Field(description="When the publishing workflow's runs were last read from the app "
                                                 "(every two minutes while it runs; None: not yet)")
    total: int = Field(description="Articles recorded for the instance, all weeks")
    articles: list[ArticleOut] = Field(description="Newest first, `limit` from `offset`")
    failed_runs: list[FailedRunOut] = Field(description="The most recent failed publishing runs")


class ArticlesSyncOut(Schema):
    runs: int = Field(description="Finished runs read for the first time")
    articles: int = Field(description="Articles recorded for the first time")
    failures: int
    paused: bool
    resumed: bool
