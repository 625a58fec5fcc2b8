"""Real WordPress instances (scripts/build-wordpress-image.sh: Debian's WordPress with nginx and
php-fpm; scripts/build-mariadb-image.sh: Debian's MariaDB) provisioned by Tenantry: hooks install
the site, make the admin account and an application password for n8n; everything through the
real proxy and Docker."""

from __future__ import annotations

import base64
import json

import pytest

from tenantry.backups import services as backup_services
from tenantry.instances import services as instance_services
from tenantry.instances.models import InstanceSecret, OperationStatus, Status, Step
from tenantry.instances.secrets import instance_outputs, instance_secret_values
from tests.apps.test_n8n import api_client
from tests.instances.helpers import create, fresh

pytestmark = [pytest.mark.docker, pytest.mark.traefik, pytest.mark.wordpress, pytest.mark.slow]

API = "/api/v1/instances"
# A one-pixel PNG: what the media library accepts (WordPress refuses plain text uploads).
PIXEL = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC")


def provisioned_wordpress(slug: str, **kwargs):
    instance, operation = create(slug, app="wordpress", **kwargs)
    operation.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    assert fresh(instance).status == Status.RUNNING
    return instance


def app_password(instance) -> str:
    return instance_outputs(instance)["n8n-app-password"]["password"]


def basic_auth(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_wordpress_is_installed_with_an_admin_and_an_application_password(platform):
    instance = provisioned_wordpress("myblog")

    # Ready per the rule: the REST API answers, through the proxy, for the site Tenantry named.
    index = platform.get(instance.host, "/wp-json/")
    assert index.status_code == 200, index.text[:300]
    assert index.json()["name"] == "myblog"
    assert index.json()["home"] == instance.url  # WP_HOME: the instance's public address
    assert "wp/v2" in index.json()["namespaces"]

    # The admin logs in with the generated password: WordPress answers with its auth cookies.
    password = instance_secret_values(instance)["admin_password"]
    login = platform.request("POST", instance.host, "/wp-login.php", data={"log": "admin", "pwd": password})
    assert login.status_code == 302, login.text[:300]
    assert any(name.startswith("wordpress_logged_in_") for name in login.cookies.get_dict())
    wrong = platform.request("POST", instance.host, "/wp-login.php", data={"log": "admin", "pwd": "not-it"})
    assert wrong.status_code == 200 and not any(n.startswith("wordpress_logged_in_") for n in wrong.cookies.get_dict())
    # Signed out again (the proxy's session kept the cookies): REST calls below use the password alone.
    platform.session.cookies.clear()

    # The application password for n8n works against the REST API, as the admin.
    secret = app_password(instance)
    assert len(secret.replace(" ", "")) == 24
    me = platform.get(instance.host, "/wp-json/wp/v2/users/me", headers=basic_auth("admin", secret))
    assert me.status_code == 200, me.text[:300]
    assert me.json()["slug"] == "admin"
    post = platform.request("POST", instance.host, "/wp-json/wp/v2/posts", headers=basic_auth("admin", secret),
                            json={"title": "Hello from n8n", "content": "Body", "status": "publish"})
    assert post.status_code == 201, post.text[:300]
    assert platform.get(instance.host, f"/wp-json/wp/v2/posts/{post.json()['id']}").json()["title"]["rendered"] \
        == "Hello from n8n"
    refused = platform.get(instance.host, "/wp-json/wp/v2/users/me", headers=basic_auth("admin", "nope nope nope"))
    assert refused.status_code == 401

    # Encrypted at rest, never in the operation's logs nor in the API's answers.
    stored = "".join(InstanceSecret.objects.filter(instance=instance).values_list("ciphertext", flat=True))
    assert secret not in stored and password not in stored
    logs = "\n".join(Step.objects.filter(operation__instance=instance).values_list("log", flat=True))
    assert "hook n8n-app-password" in logs
    client = api_client()
    answers = [client.get(f"{API}/myblog"), client.get(f"{API}/myblog/operations")]
    for answer in answers:
        assert answer.status_code == 200
    for text in [logs, *(a.content.decode() for a in answers)]:
        for value in (secret, secret.replace(" ", ""), password):
            assert value not in text


def test_wordpress_survives_a_restart_with_its_content(platform):
    instance = provisioned_wordpress("restarts")
    secret = app_password(instance)
    post = platform.request("POST", instance.host, "/wp-json/wp/v2/posts", headers=basic_auth("admin", secret),
                            json={"title": "Kept", "status": "publish"})
    assert post.status_code == 201
    operation = instance_services.instance_restart(instance=fresh(instance), actor="test")
    operation.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    kept = platform.get(instance.host, "/wp-json/wp/v2/posts", params={"search": "Kept"})
    assert [p["title"]["rendered"] for p in kept.json()] == ["Kept"]
    # After the restart PHP still writes its upload to /tmp (Docker gives the tmpfs back root-owned)
    # and WordPress the file to the volume; nginx serves it from there.
    upload = platform.request("POST", instance.host, "/wp-json/wp/v2/media", headers={
        **basic_auth("admin", secret), "Content-Disposition": 'attachment; filename="pixel.png"',
        "Content-Type": "image/png"}, data=PIXEL)
    assert upload.status_code == 201, upload.text[:300]
    path = upload.json()["source_url"].removeprefix(instance.url)
    assert path.startswith("/wp-content/uploads/")
    served = platform.get(instance.host, path)
    assert served.status_code == 200 and served.content == PIXEL


@pytest.mark.timeout(900)
def test_a_running_wordpress_is_backed_up_by_its_dump_and_restored(platform, settings):
    source = provisioned_wordpress("wpsrc")
    secret = app_password(source)
    post = platform.request("POST", source.host, "/wp-json/wp/v2/posts", headers=basic_auth("admin", secret),
                            json={"title": "Before the backup", "status": "publish"})
    assert post.status_code == 201

    backup, operation = backup_services.backup_create(instance=fresh(source), actor="test")
    operation.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    backup.refresh_from_db()
    assert backup.manifest["dumps"] == ["database"]
    instance_services.instance_delete(instance=fresh(source), actor="test")

    clone, operation = backup_services.backup_clone(team=source.team, backup=backup, slug="wpcopy", actor="test")
    operation.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    assert "database: restored from the dump" in operation.steps.get(name="restore_dumps").log
    clone = fresh(clone)
    assert clone.status == Status.RUNNING
    posts = platform.get(clone.host, "/wp-json/wp/v2/posts", params={"search": "Before the backup"})
    assert posts.status_code == 200, posts.text[:300]
    assert [p["title"]["rendered"] for p in posts.json()] == ["Before the backup"]
    # The clone has the source's site and its application password (restored with the database).
    me = platform.get(clone.host, "/wp-json/wp/v2/users/me", headers=basic_auth("admin", app_password(clone)))
    assert me.status_code == 200, me.text[:300]
    assert json.loads(platform.get(clone.host, "/wp-json/").text)["home"] == clone.url
