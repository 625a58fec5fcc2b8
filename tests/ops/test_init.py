"""`tenantry init`: the production environment file with generated secrets; weak or default
values are refused wherever they appear, and naming which one and why."""

from __future__ import annotations

import io
import stat

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth.hashers import check_password
from django.core.management import call_command
from django.core.management.base import CommandError

from tenantry.accounts.models import User
from tenantry.ops.install import GENERATED_SECRETS, audit_environment, parse_environment_file, secret_weakness


def init(*args: str) -> str:
    out = io.StringIO()
    call_command("init", *args, stdout=out)
    return out.getvalue()


def fresh_file(tmp_path, name="env") -> tuple:
    path = tmp_path / "etc" / name
    output = init(str(path), "--base-domain", "apps.example.com", "--data-dir", str(tmp_path / "data"))
    return path, output


def test_init_writes_strong_distinct_secrets_readable_by_its_owner_only(tmp_path):
    path, output = fresh_file(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    values = parse_environment_file(path.read_text())
    assert audit_environment(values) == []
    for name in GENERATED_SECRETS:
        assert secret_weakness(values[name]) is None, name
    assert len({values[name] for name in GENERATED_SECRETS}) == len(GENERATED_SECRETS)
    Fernet(values["TENANTRY_SECRETS_KEYS"].encode())  # a usable key
    assert values["TENANTRY_DEBUG"] == "0"
    assert values["TENANTRY_BASE_DOMAIN"] == "apps.example.com"
    assert values["TENANTRY_DASHBOARD_URL"] == "https://cloud.apps.example.com"
    # The admin password is printed once and only its hash is kept.
    password = output.split("admin password", 1)[1].split()[0]
    assert len(password) >= 20 and password not in path.read_text()
    assert check_password(password, values["TENANTRY_ADMIN_PASSWORD_HASH"])

    other, _ = fresh_file(tmp_path, "env2")
    again = parse_environment_file(other.read_text())
    assert all(again[name] != values[name] for name in (*GENERATED_SECRETS, "TENANTRY_SECRETS_KEYS"))


def test_init_leaves_a_good_existing_file_untouched(tmp_path):
    path, _ = fresh_file(tmp_path)
    before = path.read_text()
    assert "nothing written" in init(str(path))
    assert path.read_text() == before


@pytest.mark.parametrize(("name", "value", "reason"), [
    ("TENANTRY_SECRET_KEY", "short-secret", "too short"),
    ("TENANTRY_SECRET_KEY", "django-insecure-0123456789abcdefghijklmnopqrstuvwxyz", "known default"),
    ("TENANTRY_EDGE_SECRET", "changeme", "known default"),
    ("TENANTRY_GATEWAY_WEBHOOK_SECRET", "", "empty"),
    ("TENANTRY_GATEWAY_API_KEY", "ab" * 30, "too repetitive"),
    ("TENANTRY_SECRETS_KEYS", "not-a-key", "not a Fernet key"),
    ("TENANTRY_SECRETS_KEYS", "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=", "almost no randomness"),
    ("DATABASE_URL", "postgres://tenantry:postgres@127.0.0.1/tenantry", "password is"),
    ("TENANTRY_DEBUG", "1", "debug mode"),
    ("STRIPE_WEBHOOK_SECRET", "secret", "known default"),
])
def test_an_existing_file_with_a_weak_value_is_refused_naming_it(tmp_path, name, value, reason):
    path, _ = fresh_file(tmp_path)
    lines = [line for line in path.read_text().splitlines() if not line.startswith(f"{name}=")]
    path.write_text("\n".join([*lines, f"{name}={value}"]) + "\n")
    before = path.read_text()
    with pytest.raises(CommandError) as refused:
        init(str(path))
    assert refused.value.returncode == 2
    assert name in str(refused.value) and reason in str(refused.value)
    assert path.read_text() == before  # never rewritten


def test_a_missing_secret_is_refused(tmp_path):
    path, _ = fresh_file(tmp_path)
    path.write_text("".join(line + "\n" for line in path.read_text().splitlines()
                            if not line.startswith("TENANTRY_EDGE_SECRET=")))
    with pytest.raises(CommandError, match="TENANTRY_EDGE_SECRET is missing"):
        init(str(path))


def test_a_file_others_can_read_is_refused(tmp_path):
    path, _ = fresh_file(tmp_path)
    path.chmod(0o644)
    with pytest.raises(CommandError, match="readable by others"):
        init(str(path))


@pytest.mark.parametrize(("args", "message"), [
    (["--base-domain", "not a domain"], "not a domain name"),
    (["--base-domain", "apps.example.com", "--dashboard-url", "ftp://x"], "not an http(s) URL"),
    (["--base-domain", "apps.example.com", "--database-url", "postgres://t:password@db/t"], "DATABASE_URL"),
    ([], "--base-domain is required"),
])
def test_bad_input_writes_nothing(tmp_path, args, message):
    path = tmp_path / "env"
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        init(str(path), "--data-dir", str(tmp_path / "data"), *args)
    assert not path.exists() and list(tmp_path.iterdir()) == []


def test_the_file_is_refused_inside_the_data_directory(tmp_path):
    with pytest.raises(CommandError, match="inside the data directory"):
        init(str(tmp_path / "data" / "env"), "--base-domain", "apps.example.com", "--data-dir", str(tmp_path / "data"))


def test_ensure_admin_creates_the_login_once_with_the_printed_password(tmp_path, db, client, monkeypatch):
    path, output = fresh_file(tmp_path)
    values = parse_environment_file(path.read_text())
    password = output.split("admin password", 1)[1].split()[0]
    monkeypatch.setenv("TENANTRY_ADMIN_EMAIL", values["TENANTRY_ADMIN_EMAIL"])
    monkeypatch.setenv("TENANTRY_ADMIN_PASSWORD_HASH", values["TENANTRY_ADMIN_PASSWORD_HASH"])
    out = io.StringIO()
    call_command("ensure_admin", stdout=out)
    assert "Created" in out.getvalue()
    admin = User.objects.get(email="admin@apps.example.com")
    assert admin.is_superuser and admin.is_staff and admin.check_password(password)
    admin.set_password("changed-by-the-operator-1")
    admin.save()
    call_command("ensure_admin", stdout=out)
    assert User.objects.filter(email__iexact="admin@apps.example.com").count() == 1
    admin.refresh_from_db()
    assert admin.check_password("changed-by-the-operator-1")  # a restart never resets it
    monkeypatch.setenv("TENANTRY_ADMIN_PASSWORD_HASH", "plain-text")
    monkeypatch.setenv("TENANTRY_ADMIN_EMAIL", "other@apps.example.com")
    with pytest.raises(CommandError, match="not a password hash"):
        call_command("ensure_admin", stdout=out)
    assert not User.objects.filter(email="other@apps.example.com").exists()
