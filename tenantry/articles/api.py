"""An n8n instance's published articles (the SEO pipeline) over REST, scoped to the API key's
team through the instance selector (another team's instance is a 404)."""

from __future__ import annotations

from dataclasses import asdict

from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router, Schema
from pydantic import Field

from tenantry.api.auth import access_of
from tenantry.api.pagination import MAX_OFFSET, MAX_PAGE_SIZE
from tenantry.articles import selectors, services
from tenantry.articles.schemas import ArticlesOut, ArticlesSyncOut
from tenantry.instances import selectors as instance_selectors
from tenantry.instances.schemas import ErrorOut

router = Router(tags=["articles"])
ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut, 502: ErrorOut,
          503: ErrorOut}


class Page(Schema):
    """The API's usual bounds (tenantry/api/pagination.py) for the articles part of the answer."""

    limit: int = Field(50, ge=1, le=MAX_PAGE_SIZE)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


@router.get("/instances/{ref}/articles", response={200: ArticlesOut, **ERRORS},
            summary="Articles the SEO pipeline published, this week's count against the plan's limit, and the "
                    "failed publishing runs with their reason, as last read from n8n (every two minutes, or "
                    "POST …/articles/refresh; `read_at` says when): this call reads nothing from the app")
def list_articles(request: HttpRequest, ref: str, page: Query[Page]):
    access = access_of(request)
    access.require("instance.view")
    instance = instance_selectors.instance_get(team=access.team, ref=ref)
    articles = selectors.article_list(team=access.team, instance=instance)
    return {"week": selectors.articles_week(team=access.team, instance=instance, now=timezone.now()),
            "read_at": selectors.articles_read_at(team=access.team, instance=instance),
            "total": articles.count(), "articles": list(articles[page.offset:page.offset + page.limit]),
            "failed_runs": list(selectors.failed_runs(team=access.team, instance=instance)
                                [:selectors.FAILED_RUNS_SHOWN])}


@router.post("/instances/{ref}/articles/refresh", response={200: ArticlesSyncOut, **ERRORS},
             summary="Read the publishing workflow's new runs from n8n now (and apply the weekly limit)")
def refresh_articles(request: HttpRequest, ref: str):
    access = access_of(request)
    access.require("instance.view")
    instance = instance_selectors.instance_get(team=access.team, ref=ref)
    return asdict(services.articles_sync(instance=instance))
