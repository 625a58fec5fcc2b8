"""Deleting a team for real: its running instances (hello, real Docker and Traefik) go at once,
containers, networks, volumes and routes included; its API keys stop working and its plan ends;
its backups (local target) and its backup key stay for the backup retention, then are purged
(frozen clock) while its invoices stay."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.apps import apps
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone

from tenantry.accounts.models import User
from tenantry.accounts.services.api_keys import api_key_create
from tenantry.backups.archive import target as backup_target
from tenantry.backups.models import Backup, BackupKey, BackupStatus
from tenantry.backups.services import backup_create
from tenantry.billing.models import Subscription, SubscriptionStatus
from tenantry.core.models import AuditEvent
from tenantry.instances.models import Instance, Status
from tenantry.privacy.models import TeamDeletion
from tenantry.privacy.services.teams import backup_retention_days, team_deletions_purge
from tests.backups.helpers import sh
from tests.billing.billing_helpers import make_team
from tests.billing.entitlement_helpers import subscribe
from tests.conftest import installation_resources
from tests.instances.helpers import create, fresh

pytestmark = [pytest.mark.docker, pytest.mark.traefik, pytest.mark.slow]


def _stored(backup: Backup) -> list[int | None]:
    store = backup_target(backup.target)
    return [store.size(volume["key"]) for volume in backup.manifest["volumes"]]


def test_a_deleted_teams_instances_go_now_and_its_backups_after_the_retention(platform, docker_client, settings):
    settings.TENANTRY = {**settings.TENANTRY, "TEAM_DELETION_GRACE_DAYS": 9}
    team = make_team("goneco")
    subscribe(team)
    owner = User.objects.get(email="owner@goneco.test")
    instances = [create(slug, team=team)[0] for slug in ("goneco-a", "goneco-b")]
    backups = []
    for instance in instances:
        assert fresh(instance).status == Status.RUNNING
        assert platform.get(instance.host).status_code == 200
        assert len(installation_resources(docker_client, str(instance.pk))) == 3  # container, network, volume
        sh(instance, f"echo kept-for-{instance.slug} > /data/note.txt")
        backup, _ = backup_create(instance=instance, actor="test")
        backup.refresh_from_db()
        assert backup.status == BackupStatus.SUCCEEDED and backup.target == "local"
        assert all(size and size > 0 for size in _stored(backup))
        backups.append(backup)
    assert BackupKey.objects.filter(team=team).exists()
    key = api_key_create(team=team, name="ci").plaintext
    api = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert api.get("/api/v1/instances").status_code == 200

    session = Client()
    session.force_login(owner)
    response = session.delete("/api/v1/teams/goneco")
    assert response.status_code == 202, response.content
    deletion = TeamDeletion.objects.get(team=team)
    # No backup policy for the plan here: the setting is the retention.
    assert backup_retention_days(team) == 9
    assert abs(deletion.purge_after - timezone.now() - timedelta(days=9)) < timedelta(minutes=5)

    # At once: the instances and everything Docker and Traefik held for them are gone.
    for instance in instances:
        assert fresh(instance).status == Status.DELETED
        assert installation_resources(docker_client, str(instance.pk)) == []
        assert platform.get(instance.host).status_code == 404
    assert api.get("/api/v1/instances").status_code == 401
    assert not team.api_keys.filter(revoked_at__isnull=True).exists()
    assert Subscription.objects.get(team=team).status == SubscriptionStatus.CANCELED
    assert AuditEvent.objects.filter(action="team.delete", team_id=team.pk).exists()

    # During the retention a mistaken deletion can still be undone from the backups.
    assert team_deletions_purge(now=deletion.purge_after - timedelta(minutes=1)) == 0
    for backup in backups:
        assert all(size and size > 0 for size in _stored(backup))
    assert BackupKey.objects.filter(team=team).exists()

    # After it: the backups' objects and the key that could read any copy of them are gone.
    assert team_deletions_purge(now=deletion.purge_after + timedelta(minutes=1)) == 1
    for backup in backups:
        assert _stored(backup) == [None] * len(backup.manifest["volumes"])
        assert Backup.objects.get(pk=backup.pk).manifest == {}
    assert not BackupKey.objects.filter(team=team).exists()
    assert not Instance.objects.filter(team=team).exclude(status=Status.DELETED).exists()
    assert TeamDeletion.objects.get(pk=deletion.pk).purged_at is not None
    assert AuditEvent.objects.filter(action="team.purge", team_id=team.pk).exists()


@pytest.mark.django_db
def test_the_retention_follows_the_plans_backup_policy_where_there_is_one():
    try:
        policies = apps.get_model("backups", "BackupPolicy")
    except LookupError:
        pytest.skip("this installation has no per-plan backup policies (tenantry.backups.BackupPolicy)")
    team = make_team("policyco")
    subscription = subscribe(team)
    assert backup_retention_days(team) == django_settings.TENANTRY["TEAM_DELETION_GRACE_DAYS"]
    policies.objects.create(plan=subscription.plan, keep_daily=7, keep_weekly=4, keep_monthly=0)
    assert backup_retention_days(team) == 28
    policies.objects.filter(plan=subscription.plan).update(keep_monthly=3)
    assert backup_retention_days(team) == 93
