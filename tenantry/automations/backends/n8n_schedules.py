"""n8n's time triggers as cron expressions: the Schedule Trigger node's rules and the legacy Cron
node's trigger times, translated the way n8n itself turns them into cron jobs.

n8n adds a random second to its rules (to spread load): the expressions here fire at second 0,
the earliest n8n can. Rules a cron cannot say ("every 3 days", "every 2 weeks", "every 2
months", which n8n checks against the last run) become the rule's every-day / every-week /
every-month expression: at least as often as n8n fires, which only wakes an instance more often.
"""

from __future__ import annotations

from typing import Any

SCHEDULE_NODE = "n8n-nodes-base.scheduleTrigger"
CRON_NODE = "n8n-nodes-base.cron"
DEFAULT_ZONE_SETTING = "DEFAULT"  # a workflow that follows the instance's GENERIC_TIMEZONE


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _schedule_rule(rule: dict[str, Any]) -> str | None:
    field = rule.get("field") or "days"
    minute = _int(rule.get("triggerAtMinute"), 0)
    hour = _int(rule.get("triggerAtHour"), 0)
    if field == "cronExpression":
        expression = str(rule.get("expression") or "").strip()
        return expression or None
    if field == "seconds":
        return f"*/{max(_int(rule.get('secondsInterval'), 30), 1)} * * * * *"
    if field == "minutes":
        return f"*/{max(_int(rule.get('minutesInterval'), 5), 1)} * * * *"
    if field == "hours":
        return f"{minute} */{max(_int(rule.get('hoursInterval'), 1), 1)} * * *"
    if field == "days":
        return f"{minute} {hour} * * *"
    if field == "weeks":
        days = rule.get("triggerAtDay") or []
        weekdays = ",".join(str(_int(d, 0)) for d in days) if isinstance(days, list) and days else "*"
        return f"{minute} {hour} * * {weekdays}"
    if field == "months":
        return f"{minute} {hour} {_int(rule.get('triggerAtDayOfMonth'), 1)} * *"
    return None


def _cron_item(item: dict[str, Any]) -> str | None:
    mode = item.get("mode") or "everyDay"
    minute = _int(item.get("minute"), 0)
    hour = _int(item.get("hour"), 14)  # the Cron node's default hour
    if mode == "everyMinute":
        return "* * * * *"
    if mode == "everyHour":
        return f"{minute} * * * *"
    if mode == "everyDay":
        return f"{minute} {hour} * * *"
    if mode == "everyWeek":
        return f"{minute} {hour} * * {_int(item.get('weekday'), 1)}"
    if mode == "everyMonth":
        return f"{minute} {hour} {_int(item.get('dayOfMonth'), 1)} * *"
    if mode == "everyX":
        value = max(_int(item.get("value"), 2), 1)
        return f"*/{value} * * * *" if item.get("unit") == "minutes" else f"0 */{value} * * *"
    if mode == "custom":
        expression = str(item.get("cronExpression") or "").strip()
        return expression or None
    return None


def node_expressions(node: dict[str, Any]) -> tuple[str, ...]:
    """The cron expressions a node fires on (empty for any other node, or a disabled one)."""
    if node.get("disabled"):
        return ()
    parameters = node.get("parameters") or {}
    if node.get("type") == SCHEDULE_NODE:
        rules = (parameters.get("rule") or {}).get("interval") or [{"field": "days"}]
        found = [_schedule_rule(r) for r in rules if isinstance(r, dict)]
    elif node.get("type") == CRON_NODE:
        items = (parameters.get("triggerTimes") or {}).get("item") or []
        found = [_cron_item(i) for i in items if isinstance(i, dict)]
    else:
        return ()
    return tuple(e for e in found if e)


def workflow_zone(workflow: dict[str, Any], instance_zone: str) -> str:
    """A workflow's own time zone setting wins over the instance's."""
    own = (workflow.get("settings") or {}).get("timezone")
    return own if own and own != DEFAULT_ZONE_SETTING else instance_zone
