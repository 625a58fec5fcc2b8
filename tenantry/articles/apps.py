from django.apps import AppConfig


class ArticlesConfig(AppConfig):
    name = "tenantry.articles"
    label = "articles"
