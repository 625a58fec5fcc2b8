"""Alerts for the operators: staff users by email (where a template exists) and a
Slack-compatible incoming webhook (`TENANTRY_OPERATOR_SLACK_WEBHOOK_URL`): a JSON `{"text": …}`
POST, which Slack, Mattermost and Rocket.Chat accept as it is."""

from __future__ import annotations

import httpx
from django.conf import settings

from tenantry.core.logging import get_logger

log = get_logger(__name__)


class OperatorChannelError(Exception):
    pass


def post_operator_alert(text: str) -> bool:
    """Post to the operators' channel; False when none is configured. Raises on failure (the task
    retries). The URL is the operator's own: it may be on their private network."""
    url = settings.TENANTRY_NOTIFICATIONS["OPERATOR_SLACK_WEBHOOK_URL"]
    if not url:
        return False
    try:
        response = httpx.post(url, json={"text": text[:3000]}, timeout=10, follow_redirects=False, trust_env=False)
    except httpx.HTTPError as exc:
        raise OperatorChannelError(f"operator channel unreachable: {type(exc).__name__}") from exc
    if not 200 <= response.status_code < 300:
        raise OperatorChannelError(f"operator channel answered HTTP {response.status_code}")
    log.info("operator.alert_sent")
    return True
