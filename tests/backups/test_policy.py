"""Backup policies: per-plan schedules and off-site storage, grandfather-father-son retention
with a frozen clock, and pruning that really removes the objects at the target."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tenantry.accounts.services.teams import operator_team
from tenantry.backups import archive
from tenantry.backups.models import Backup, BackupKind, BackupPolicy, BackupStatus
from tenantry.backups.policy import DEFAULT_POLICY, Policy, gfs_keep, policy_for, target_for
from tenantry.backups.schedule import backups_prune, backups_schedule, due_instances
from tenantry.billing.services.subscriptions import subscription_checkout
from tenantry.core.models import AuditEvent
from tests.billing.billing_helpers import make_plan, make_team

NOW = datetime(2026, 12, 2, 18, 30, tzinfo=UTC)  # a Wednesday


def test_gfs_keeps_the_newest_of_7_days_4_weeks_12_months():
    # Four backups a day (every 6 hours) for 400 days.
    times = [(f"b{i}", NOW.replace(hour=18, minute=0) - timedelta(hours=6 * i)) for i in range(400 * 4)]
    kept = {when for backup_id, when in times if backup_id in gfs_keep(times, DEFAULT_POLICY, NOW)}
    assert {when.hour for when in kept} == {18}  # the newest of each day
    assert sorted(when.strftime("%m-%d") for when in kept) == sorted([
        "12-02", "12-01", "11-30", "11-29", "11-28", "11-27", "11-26",  # 7 days
        "11-22", "11-15",  # the Sundays of the 3 weeks before this one (this week's is 12-02)
        "10-31", "09-30", "08-31", "07-31", "06-30", "05-31", "04-30", "03-31", "02-28", "01-31"])  # months
    assert all(when.year == 2026 for when in kept)  # 12 months back from December: nothing from 2025


def test_gfs_keeps_the_newest_few_and_never_prunes_on_a_clock_from_the_future():
    policy = Policy(keep_last=4, keep_daily=1, keep_weekly=0, keep_monthly=0)
    times = [(f"b{i}", NOW - timedelta(hours=6 * i)) for i in range(12)] + [("future", NOW + timedelta(hours=2))]
    assert gfs_keep(times, policy, NOW) == {"future", "b0", "b1", "b2", "b3"}
    # Nothing recent at all: the newest still stays, whatever its age.
    old = [("old1", NOW - timedelta(days=900)), ("old2", NOW - timedelta(days=901))]
    assert gfs_keep(old, DEFAULT_POLICY, NOW) == {"old1"}


@pytest.mark.django_db
def test_the_plan_decides_the_schedule_retention_and_off_site_storage(settings):
    plain, business = make_team("plain"), make_team("bigco")
    plan = make_plan("business", offsite_backups=True)
    BackupPolicy.objects.create(plan=plan, interval_hours=6, keep_last=4, keep_daily=14, keep_monthly=24)
    subscription_checkout(team=business, plan=plan, interval="month", actor="test")
    starter = make_team("small")
    subscription_checkout(team=starter, plan=make_plan("starter"), interval="month", actor="test")

    assert policy_for(plain) == DEFAULT_POLICY and DEFAULT_POLICY.interval_hours == 24
    assert policy_for(business) == Policy(interval_hours=6, keep_last=4, keep_daily=14, keep_weekly=4,
                                          keep_monthly=24, drill_interval_days=7, offsite=True)
    assert policy_for(starter) == DEFAULT_POLICY  # a plan without its own policy, no off-site

    settings.BACKUP_TARGETS = {**settings.BACKUP_TARGETS, "s3": {
        "BACKEND": "tenantry.backups.targets.s3.S3Target",
        "OPTIONS": {"bucket": "b", "endpoint_url": "http://127.0.0.1:9", "access_key": "x", "secret_key": "y"}}}
    settings.TENANTRY = {**settings.TENANTRY, "BACKUP_TARGET": "s3"}
    from tenantry.core.backends import reset_backends

    reset_backends()
    try:
        assert target_for(business) == "s3"
        assert target_for(starter) == "local" and target_for(plain) == "local"
        assert target_for(operator_team()) == "s3"
    finally:
        reset_backends()


def _stored(team, slug: str, created: datetime, kind: str = BackupKind.SCHEDULED) -> Backup:
    """A succeeded backup with real objects at the local target, made at `created`."""
    backup = Backup.objects.create(team=team, instance_slug=slug, app="hello", kind=kind, target="local",
                                   status=BackupStatus.SUCCEEDED)
    backup.prefix = f"{team.pk}/{slug}/{backup.pk}"
    store = archive.target("local")
    volume = store.put(archive.object_key(backup, "data.tar.gz.enc"), [b"sealed volume"])
    values = store.put(archive.object_key(backup, "values.enc"), [b"sealed values"])
    store.put(archive.object_key(backup, "manifest.json"), [b"{}"])
    backup.manifest = {"volumes": [{"name": "data", "key": volume.key, "size": volume.size}],
                       "values": {"key": values.key, "size": values.size}}
    backup.save()
    Backup.objects.filter(pk=backup.pk).update(created_at=created)
    return backup


@pytest.mark.django_db
def test_pruning_removes_what_the_retention_drops_at_the_target_and_keeps_the_rest(settings):
    team = make_team("keeper")
    directory = settings.DATA_DIR / "backups"
    daily = [_stored(team, "site", NOW - timedelta(days=d, hours=1)) for d in range(40)]
    manual = _stored(team, "site", NOW - timedelta(days=300), kind=BackupKind.MANUAL)
    other = _stored(team, "other", NOW - timedelta(days=39))  # another instance's only backup
    gone_final = _stored(team, "gone", NOW - timedelta(days=31), kind=BackupKind.FINAL)
    fresh_final = _stored(team, "gone2", NOW - timedelta(days=3), kind=BackupKind.FINAL)

    expected = gfs_keep([(str(b.pk), Backup.objects.get(pk=b.pk).created_at) for b in daily], DEFAULT_POLICY, NOW)
    assert 7 <= len(expected) < 20
    assert backups_prune(now=NOW) == {"pruned": 40 - len(expected) + 1, "errors": 0}

    remaining = set(Backup.objects.values_list("pk", flat=True))
    assert {str(pk) for pk in remaining} == expected | {str(manual.pk), str(other.pk), str(fresh_final.pk)}
    for backup in [*daily, manual, other, gone_final, fresh_final]:
        files = list((directory / backup.prefix).glob("*"))
        assert (backup.pk in remaining) == (len(files) == 3), backup.prefix
    assert AuditEvent.objects.filter(action="backup.pruned").count() == 40 - len(expected) + 1
    assert backups_prune(now=NOW) == {"pruned": 0, "errors": 0}  # idempotent


@pytest.mark.docker
@pytest.mark.traefik
def test_the_scheduler_backs_up_what_is_due_with_the_plan_s_interval(platform):
    from tests.instances.helpers import create

    instance, _ = create("sched")
    now = datetime.now(tz=UTC)
    assert [i.slug for i in due_instances(now)] == ["sched"]  # never backed up
    assert backups_schedule(now=now) == {"started": 1, "skipped": 0, "deferred": 0}
    backup = Backup.objects.get(instance=instance)
    assert backup.kind == BackupKind.SCHEDULED and backup.status == BackupStatus.SUCCEEDED
    assert backup.created_by == "scheduler:backups"
    assert due_instances(now + timedelta(hours=20)) == []  # daily: not yet
    assert [i.slug for i in due_instances(now + timedelta(hours=24))] == ["sched"]
    # A failed backup does not count: the next run tries again.
    Backup.objects.filter(pk=backup.pk).update(status=BackupStatus.FAILED)
    assert [i.slug for i in due_instances(now + timedelta(hours=1))] == ["sched"]


@pytest.mark.django_db
def test_the_seeded_catalogue_backs_up_the_higher_plans_every_6_hours():
    from tenantry.billing.seed import seed_billing_catalog

    seed_billing_catalog()
    seed_billing_catalog()  # idempotent
    intervals = dict(BackupPolicy.objects.values_list("plan__code", "interval_hours"))
    # the starters: the default, daily
    assert intervals == {code: 6 for code in ("pro", "business", "n8n-pro", "n8n-business", "n8n-enterprise",
                                              "erpnext-business", "erpnext-enterprise")}


@pytest.mark.docker
@pytest.mark.traefik
def test_a_run_of_the_scheduler_starts_at_most_its_limit_longest_waiting_first(platform, settings):
    """Instances created together were all due in one run (410 backups queued in 18 s at scale):
    a run starts at most BACKUP_SCHEDULE_MAX_PER_RUN; the next runs take the rest."""
    from tests.instances.helpers import create

    settings.TENANTRY = {**settings.TENANTRY, "BACKUP_SCHEDULE_MAX_PER_RUN": 1}
    first, _ = create("herd-a")
    second, _ = create("herd-b")
    now = datetime.now(tz=UTC)
    assert [i.slug for i in due_instances(now)] == ["herd-a", "herd-b"]
    assert backups_schedule(now=now) == {"started": 1, "skipped": 0, "deferred": 1}
    assert Backup.objects.filter(instance=first).count() == 1 and not Backup.objects.filter(instance=second).exists()
    # The one never backed up goes before any that has a backup, whatever the creation order.
    assert [i.slug for i in due_instances(now + timedelta(hours=25))] == ["herd-b", "herd-a"]
    later = now + timedelta(minutes=15)
    assert backups_schedule(now=later) == {"started": 1, "skipped": 0, "deferred": 0}
    assert Backup.objects.filter(instance=second).count() == 1
