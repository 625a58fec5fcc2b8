"""A customer's n8n connected to a WordPress site: one of the team's WordPress instances (real
WordPress, real MariaDB, real n8n), or a site elsewhere, checked before anything is saved."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from tenantry.accounts.models import Team
from tenantry.automations.models import WordPressConnection
from tenantry.core.models import AuditEvent
from tenantry.instances.secrets import instance_inputs, instance_outputs
from tests.apps.test_n8n import api_client, n8n_key, provisioned
from tests.apps.test_wordpress import app_password, basic_auth, provisioned_wordpress
from tests.backups.helpers import owner_of_operators
from tests.billing.entitlement_helpers import subscribe

pytestmark = [pytest.mark.docker, pytest.mark.traefik, pytest.mark.n8n, pytest.mark.wordpress, pytest.mark.slow]

API = "/api/v1/instances"
SEO_INPUTS = {"openai_api_key": "sk-test-0123456789", "wordpress_url": "http://127.0.0.1:9",
              "wordpress_username": "editor", "wordpress_app_password": "abcd efgh ijkl mnop",
              "seed_keyword": "self-hosting"}
# A workflow with a WordPress node and no credential yet (as a customer may import one).
DRAFT = {"name": "Draft a post", "settings": {}, "connections": {}, "nodes": [
    {"id": "1", "name": "Publish", "type": "n8n-nodes-base.wordpress", "typeVersion": 1, "position": [0, 0],
     "parameters": {"title": "Draft", "additionalFields": {}}}]}


def n8n_credentials(docker_client, instance) -> list[dict]:
    """n8n's API never shows a secret back: its own CLI exports the decrypted credentials."""
    container = docker_client.containers.list(filters={"label": f"tenantry.instance={instance.id}"})[0]
    result = container.exec_run(["/usr/local/bin/node", "/opt/n8n/node_modules/n8n/bin/n8n",
                                 "export:credentials", "--all", "--decrypted"])
    output = result.output.decode()
    return json.loads(output[output.index("["):])


def put(client, slug: str, body: dict):
    return client.put(f"{API}/{slug}/wordpress", json.dumps(body), content_type="application/json")


@pytest.mark.timeout(900)
def test_n8n_publishes_to_the_teams_wordpress_and_refuses_what_is_not_its_own(platform, docker_client):
    stranger_team = Team.objects.create(name="Elsewhere", slug="elsewhere")
    subscribe(stranger_team)
    press = provisioned_wordpress("press")
    foreign = provisioned_wordpress("foreign", team=stranger_team)
    flows = provisioned("seoflows", templates=["echo", "seo-1-expand", "seo-2-cluster", "seo-3-publish"],
                        inputs=SEO_INPUTS)
    client = api_client()
    assert client.get(f"{API}/seoflows/wordpress").json()["code"] == "wordpress_not_connected"
    draft = platform.request("POST", flows.host, "/api/v1/workflows", headers={"X-N8N-API-KEY": n8n_key(flows)},
                             json=DRAFT)
    assert draft.status_code == 200, draft.text[:300]
    provisioned_credential = instance_outputs(flows)["wordpress-credential"]["id"]

    # Choose the team's WordPress: n8n's credential (the one the SEO templates use) now holds its
    # address, the admin and the application password Tenantry made; nobody typed a secret.
    answer = put(client, "seoflows", {"wordpress_instance": "press"})
    assert answer.status_code == 200, answer.content
    assert answer.json() == {"url": press.url, "username": "admin", "wordpress_instance": "press",
                             "verified_at": answer.json()["verified_at"]}
    secret = app_password(press)
    assert secret not in answer.content.decode()
    assert client.get(f"{API}/seoflows/wordpress").json()["url"] == press.url
    wordpress = [c for c in n8n_credentials(docker_client, flows) if c["type"] == "wordpressApi"]
    assert [(c["id"], c["data"]) for c in wordpress] == [
        (provisioned_credential, {"url": press.url, "username": "admin", "password": secret})]
    # Every WordPress node uses it: the SEO template's, and the one imported without a credential.
    workflows = platform.get(flows.host, "/api/v1/workflows", headers={"X-N8N-API-KEY": n8n_key(flows)}).json()
    nodes = [n for w in workflows["data"] for n in w["nodes"] if n["type"] == "n8n-nodes-base.wordpress"]
    assert len(nodes) == 2
    assert {n["credentials"]["wordpressApi"]["id"] for n in nodes} == {provisioned_credential}
    # What n8n will send works: WordPress accepts the credential.
    me = platform.get(press.host, "/wp-json/wp/v2/users/me", headers=basic_auth("admin", secret))
    assert me.status_code == 200
    assert instance_inputs(flows)["wordpress_url"] == press.url
    connection = WordPressConnection.objects.get(instance=flows)
    assert connection.wordpress_instance == press and connection.credential_id == provisioned_credential
    audit = AuditEvent.objects.filter(action="automation.wordpress_connected").get()
    assert audit.data["workflows"] == ["Draft a post"] and secret not in json.dumps(audit.data)

    # Another team's WordPress: not found by name, refused by address.
    refused = put(client, "seoflows", {"wordpress_instance": "foreign"})
    assert refused.status_code == 404
    by_address = put(client, "seoflows", {"url": foreign.url, "username": "admin",
                                          "app_password": app_password(foreign)})
    assert by_address.status_code == 422 and by_address.json()["code"] == "wordpress_url_refused"
    # A private address is never called.
    for url in ("http://10.20.30.40", "http://127.0.0.1:8000", "http://169.254.169.254/latest"):
        private = put(client, "seoflows", {"url": url, "username": "admin", "app_password": "a b c d"})
        assert private.status_code == 422 and private.json()["code"] == "wordpress_url_private", url
    bad = put(client, "seoflows", {"url": "ftp://example.org", "username": "admin", "app_password": "x"})
    assert bad.status_code == 422 and bad.json()["code"] == "wordpress_url_invalid"
    both = put(client, "seoflows", {"wordpress_instance": "press", "url": "https://example.org"})
    assert both.status_code == 422
    # The stranger's own key does not see this n8n at all.
    assert put(api_client(stranger_team), "seoflows", {"wordpress_instance": "foreign"}).status_code == 404

    # The application password revoked in WordPress: a clear error, and nothing changed.
    db = next(c for c in docker_client.containers.list(filters={"label": f"tenantry.instance={press.id}"})
              if c.labels.get("tenantry.service") == "db")
    revoked = db.exec_run(["sh", "-c", 'MYSQL_PWD="$MARIADB_ROOT_PASSWORD" mariadb -uroot wordpress -e '
                                       "\"DELETE FROM wp_usermeta WHERE meta_key = '_application_passwords'\""])
    assert revoked.exit_code == 0, revoked.output
    again = put(client, "seoflows", {"wordpress_instance": "press"})
    assert again.status_code == 422 and again.json()["code"] == "wordpress_refused"
    assert "revoked" in again.json()["message"]
    assert WordPressConnection.objects.get(instance=flows).verified_at == connection.verified_at
    assert AuditEvent.objects.filter(action="automation.wordpress_connected").count() == 1

    # The dashboard page: the chosen site, never its password; a refusal said in the form.
    browser = Client()
    browser.force_login(owner_of_operators())
    page_url = reverse("dashboard:instance_wordpress", args=[flows.team.slug, "seoflows"])
    page = browser.get(page_url)
    assert page.status_code == 200
    assert press.url in page.content.decode() and secret not in page.content.decode()
    assert page_url in browser.get(reverse("dashboard:instance", args=[flows.team.slug, "seoflows"])).content.decode()
    private = browser.post(page_url, {"source": "url", "url": "http://10.9.8.7", "username": "editor",
                                      "app_password": "abcd efgh"}, follow=True)
    assert "private or reserved address" in private.content.decode()
    assert WordPressConnection.objects.get(instance=flows).url == press.url
