"""Who is told about usage: the team's owners for thresholds, the operators for collector gaps."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext as _

from tenantry.accounts.models import Role, User
from tenantry.metering.models import CollectorGap, QuotaAlert
from tenantry.metering.quotas import QUOTAS, Policy
from tenantry.notifications.email import send_templated_email


def _dashboard(path: str) -> str:
    return settings.TENANTRY["DASHBOARD_URL"].rstrip("/") + path


def _consequence(alert: QuotaAlert) -> str:
    if alert.threshold < 100:
        return _("Nothing changes yet; plan ahead, or add capacity.")
    if alert.policy == Policy.BLOCK:
        return _("The plan is used up: creating more (instances, active workflows) is refused until the period "
                 "ends, unless you upgrade the plan or buy an add-on.")
    if alert.policy == Policy.BILL_OVERAGE:
        return _("Usage above the plan is billed per unit on your next invoice.")
    return _("Nothing is stopped: consider a larger plan or an add-on.")


def notify_quota_alert(alert_id: str) -> None:
    alert = QuotaAlert.objects.select_related("instance", "team").get(pk=alert_id)
    kind = QUOTAS[alert.quota]
    owners = User.objects.filter(memberships__team=alert.team, memberships__role=Role.OWNER).order_by("email")
    context = {"alert": alert, "instance": alert.instance, "quota_label": kind.label.lower(), "unit": kind.unit,
               "used": f"{alert.used.quantize(alert.used.__class__('0.01')).normalize():f}",
               "included": f"{alert.included.normalize():f}", "period_end": f"{alert.period_end:%Y-%m-%d}",
               "usage_url": _dashboard(f"/t/{alert.team.slug}/usage/")}
    for user in owners:
        context["consequence"] = _consequence(alert)
        send_templated_email(to=user.email, template="quota_threshold", context=context,
                             language=user.language or None)


def notify_collector_gap(gap_id: str) -> None:
    gap = CollectorGap.objects.select_related("instance").get(pk=gap_id)
    from django.core.mail import mail_admins

    subject = f"Metering: the {gap.collector} collector cannot read its source"
    where = f" for {gap.instance.slug}" if gap.instance else ""
    body = (f"Since {gap.started_at:%Y-%m-%d %H:%M} UTC{where}: {gap.error}\n\nNothing is recorded for this "
            "interval (no zero either); the gap closes when the collector reads the source again.")
    recipients = list(User.objects.filter(is_staff=True, is_active=True).values_list("email", flat=True))
    if recipients:
        from django.core.mail import send_mail

        send_mail(subject, body, None, recipients)
    else:
        mail_admins(subject, body)
