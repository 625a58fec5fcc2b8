from __future__ import annotations

from django.contrib import admin

from tenantry.articles.models import Article, PublishRun


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin):
    """Read from the customer's n8n: facts, not edited here."""

    list_display = ("published_at", "instance", "title", "status", "post_id", "execution_id")
    search_fields = ("title", "url", "instance__slug")

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(PublishRun)
class PublishRunAdmin(admin.ModelAdmin):
    list_display = ("started_at", "instance", "outcome", "status", "failed_node", "reason")
    list_filter = ("outcome",)
    search_fields = ("instance__slug", "execution_id")

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_add_permission(self, request) -> bool:
        return False
