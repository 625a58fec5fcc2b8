"""Daily usage as a server-rendered SVG bar chart: no JavaScript, one <rect class="bar"> per day,
each with a <title> (the browser's tooltip, and what a screen reader reads)."""

from __future__ import annotations

from decimal import Decimal

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from tenantry.metering.reports import DayValue

BAR = 14  # px per day, gap included
HEIGHT = 60


def _label(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')).normalize():f}" if value else "0"


def daily_bars_svg(points: list[DayValue], *, unit: str, title: str) -> SafeString:
    top = max((p.value for p in points), default=Decimal(0))
    width = max(len(points), 1) * BAR
    bars = []
    for index, point in enumerate(points):
        height = int(point.value / top * (HEIGHT - 2)) if top > 0 else 0
        if point.value > 0:
            height = max(height, 1)  # a small day stays visible
        bars.append((index * BAR + 1, HEIGHT - height, BAR - 2, height, point.day.isoformat(), point.day.isoformat(),
                     _label(point.value), unit))
    body = format_html_join(
        "", '<rect class="bar" x="{}" y="{}" width="{}" height="{}" data-day="{}"><title>{}: {} {}</title></rect>',
        bars)
    return format_html(
        '<svg class="usage-chart" viewBox="0 0 {} {}" width="{}" height="{}" role="img" aria-label="{}" '
        'preserveAspectRatio="none" xmlns="http://www.w3.org/2000/svg">'
        '<line class="axis" x1="0" y1="{}" x2="{}" y2="{}"></line>{}</svg>',
        width, HEIGHT, width, HEIGHT, _("%(title)s per day, highest %(top)s %(unit)s")
        % {"title": title, "top": _label(top), "unit": unit}, HEIGHT - 0.5, width, HEIGHT - 0.5, body)
