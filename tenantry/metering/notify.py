"""Who is told about usage: the team's owners for thresholds, the operators for collector gaps."""

from __future__ import annotations

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from tenantry.accounts.models import Role, User
from tenantry.metering.models import CollectorGap, EnforcementAction, QuotaAlert, QuotaEnforcement
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
    if alert.policy == Policy.THROTTLE:
        return _("The plan is used up: requests to the instance are now rate-limited (visitors past the limit get "
                 "\"429 Too Many Requests\") until the period ends, unless you upgrade the plan or buy an add-on.")
    if alert.policy == Policy.SUSPEND:
        return _("The plan is used up: the instance will be suspended after the grace period unless you upgrade the "
                 "plan or buy an add-on; it comes back at the start of the next period.")
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

        from tenantry.notifications.email import branded_from

        send_mail(subject, body, branded_from(), recipients)
    else:
        mail_admins(subject, body)


def _enforcement_text(enforcement: QuotaEnforcement, what: str, quota: str) -> tuple[str, str]:
    """(what happened, why) for the email about a policy applied, scheduled or lifted."""
    name = enforcement.instance.slug
    end = f"{enforcement.period_end:%Y-%m-%d}"
    why = _("%(name)s has used all the %(quota)s its plan includes for the period ending on %(end)s.") % {
        "name": name, "quota": quota, "end": end}
    if what == "lifted":
        happened = (_("%(name)s is no longer rate-limited.") if enforcement.action == EnforcementAction.THROTTLE
                    else _("%(name)s has been resumed.")) % {"name": name}
        return happened, _("Its %(quota)s quota is available again (new period, add-on or larger plan).") % {
            "quota": quota}
    if what == "scheduled":
        due = f"{enforcement.due_at:%Y-%m-%d %H:%M} UTC"
        return _("%(name)s will be suspended on %(due)s unless you upgrade the plan or buy an add-on.") % {
            "name": name, "due": due}, why
    if enforcement.action == EnforcementAction.THROTTLE:
        params = enforcement.params
        happened = _("Requests to %(name)s are now limited to %(requests)s per %(seconds)s s; visitors past the limit "
                     "get \"429 Too Many Requests\" until the period ends, or until you upgrade the plan or buy an "
                     "add-on.") % {"name": name, "requests": params.get("requests"),
                                   "seconds": params.get("period_seconds")}
    else:
        happened = _("%(name)s has been suspended until the period ends, or until you upgrade the plan or buy an "
                     "add-on.") % {"name": name}
    return happened, why


def notify_quota_enforcement(enforcement_id: str, what: str) -> None:
    enforcement = QuotaEnforcement.objects.select_related("instance", "team").get(pk=enforcement_id)
    owners = User.objects.filter(memberships__team=enforcement.team, memberships__role=Role.OWNER).order_by("email")
    for user in owners:
        with translation.override(user.language or None):
            happened, why = _enforcement_text(enforcement, what, str(_(QUOTAS[enforcement.quota].label)).lower())
            context = {"instance": enforcement.instance, "happened": happened, "why": why, "what": what,
                       "usage_url": _dashboard(f"/t/{enforcement.team.slug}/usage/")}
        send_templated_email(to=user.email, template="quota_enforcement", context=context,
                             language=user.language or None)


def _workflow_texts(name: str, data: dict) -> tuple[str, str]:
    parts, reasons = [], []
    if data.get("paused"):
        parts.append(_("The active workflows of %(name)s are paused until %(until)s: %(workflows)s.") % {
            "name": name, "until": data.get("until"), "workflows": ", ".join(data["paused"])})
        reasons.append(_("The executions the plan includes for this period are used up, and the plan stops "
                         "workflows then. They are reactivated when the next period starts, or sooner with a "
                         "larger plan."))
    if data.get("deactivated"):
        parts.append(_("Workflows deactivated on %(name)s: %(workflows)s.") % {
            "name": name, "workflows": ", ".join(data["deactivated"])})
        reasons.append(_("The plan allows %(limit)s active workflows; the most recently activated ones were turned "
                         "off. Deactivate others, or upgrade the plan, to turn them on again.") % {
            "limit": data.get("active_limit")})
    if data.get("resumed"):
        parts.append(_("Workflows reactivated on %(name)s: %(workflows)s.") % {
            "name": name, "workflows": ", ".join(data["resumed"])})
        reasons.append(_("Executions are available again (a new period, or a larger plan)."))
    return " ".join(parts), " ".join(reasons)


def notify_workflow_limits(instance_id: str, data: dict) -> None:
    from tenantry.instances.models import Instance

    instance = Instance.objects.select_related("team").get(pk=instance_id)
    owners = User.objects.filter(memberships__team=instance.team, memberships__role=Role.OWNER).order_by("email")
    what = "lifted" if data.get("resumed") and not (data.get("paused") or data.get("deactivated")) else "applied"
    for user in owners:
        with translation.override(user.language or None):
            happened, why = _workflow_texts(instance.slug, data)
        send_templated_email(to=user.email, template="quota_enforcement", language=user.language or None,
                             context={"instance": instance, "happened": happened, "why": why, "what": what,
                                      "usage_url": _dashboard(f"/t/{instance.team.slug}/usage/")})
