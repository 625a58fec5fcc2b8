"""`tenantry lago sync`: push plans, customers and live subscriptions to Lago (LAGO_API_URL).

Safe to repeat: Lago upserts customers, the engine updates existing plan codes, and a
subscription sent again with the same external_id and plan changes nothing.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenantry.billing.engines.lago import LagoEngine, LagoNotConfigured
from tenantry.billing.models import Plan, Subscription
from tenantry.billing.models.subscriptions import LIVE_SUBSCRIPTION_STATUSES
from tenantry.billing.providers.base import BackendError


class Command(BaseCommand):
    help = "Synchronise plans, customers and subscriptions with Lago."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["sync"])

    def handle(self, *args: object, **options: object) -> None:
        try:
            engine = LagoEngine.from_settings()
        except LagoNotConfigured:
            raise CommandError("Lago is not configured: set LAGO_API_URL and LAGO_API_KEY.") from None
        try:
            plans = [code for plan in Plan.objects.filter(is_active=True) for code in engine.sync_plan(plan)]
            live = Subscription.objects.filter(status__in=LIVE_SUBSCRIPTION_STATUSES).select_related("team", "plan")
            count = 0
            for subscription in live:
                engine.sync_subscription(subscription)
                count += 1
        except BackendError as exc:
            raise CommandError(f"Lago sync stopped: {exc.message}") from None
        self.stdout.write(f"Lago: {len(plans)} plan(s), {count} subscription(s) synchronised.")
