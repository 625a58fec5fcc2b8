"""`{% load usage_tags %}{% usage_chart quota_report %}`: a quota's daily usage as an SVG chart."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from tenantry.metering.charts import daily_bars_svg
from tenantry.metering.reports import QuotaReport

register = template.Library()


@register.simple_tag
def usage_chart(quota: QuotaReport) -> SafeString:
    return daily_bars_svg(quota.daily, unit=quota.status.unit, title=_(quota.status.label))
