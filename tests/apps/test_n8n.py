"""Real n8n instances (the image scripts/build-n8n-image.sh builds) provisioned, owned and driven
by Tenantry: hooks create the owner and an API key, import and activate workflows; Tenantry lists
and runs them and copies their executions. Everything through the real proxy and Docker."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from tenantry.accounts.models import Team
from tenantry.accounts.services.api_keys import api_key_create
from tenantry.accounts.services.teams import operator_team
from tenantry.instances.models import InstanceSecret, OperationStatus, Status, Step
from tenantry.instances.secrets import instance_inputs, instance_outputs, instance_secret_values
from tests.billing.entitlement_helpers import subscribe
from tests.conftest import installation_resources, wait_for
from tests.instances.helpers import create, fresh, last_operation

pytestmark = [pytest.mark.docker, pytest.mark.traefik, pytest.mark.n8n, pytest.mark.slow]

API = "/api/v1/instances"


def api_client(team: Team | None = None) -> Client:
    key = api_key_create(team=team or operator_team(), name="n8n-tests").plaintext
    return Client(HTTP_AUTHORIZATION=f"Bearer {key}")


def n8n_key(instance) -> str:
    return instance_outputs(instance)["api-key"]["key"]


def provisioned(slug: str, app_name: str = "n8n", **kwargs):
    instance, operation = create(slug, app=app_name, **kwargs)
    operation.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    assert fresh(instance).status == Status.RUNNING
    return instance


def test_n8n_instance_is_set_up_driven_and_survives_hibernation(platform):
    instance = provisioned("flows")
    client = api_client()

    # Ready per the rule: /rest/settings answers JSON with `data`, through the proxy.
    settings_answer = platform.get(instance.host, "/rest/settings")
    assert settings_answer.status_code == 200 and "data" in settings_answer.json()

    # The owner exists with the stored password; Tenantry's API key works, and both are encrypted at rest.
    outputs = instance_outputs(instance)
    password = instance_secret_values(instance)["owner_password"]
    login = platform.request("POST", instance.host, "/rest/login",
                             json={"emailOrLdapLoginId": outputs["owner"]["email"], "password": password})
    assert login.status_code == 200, login.text
    key = n8n_key(instance)
    assert len(key) > 100
    stored = "".join(InstanceSecret.objects.filter(instance=instance).values_list("ciphertext", flat=True))
    assert key not in stored and password not in stored
    logs = "".join(Step.objects.filter(operation__instance=instance).values_list("log", flat=True))
    assert "hook api-key" in logs and key not in logs and password not in logs

    # The echo template is imported and active: its webhook answers through Traefik as the workflow says.
    workflows = client.get(f"{API}/flows/workflows").json()
    assert [(w["name"], w["active"]) for w in workflows] == [("Echo", True)]
    assert workflows[0]["triggers"] == ["webhook POST /webhook/echo"]
    echo = platform.request("POST", instance.host, "/webhook/echo", json={"message": "hi tenantry"})
    assert echo.status_code == 200 and echo.json() == {"echo": "hi tenantry"}

    # ... and the execution shows in Tenantry's API within seconds.
    def executions():
        return client.get(f"{API}/flows/executions").json()["items"]

    seen = wait_for(lambda: [e for e in executions() if e["status"] == "success"], timeout=10, what="execution")
    assert seen[0]["workflow_name"] == "Echo" and seen[0]["mode"] == "webhook"
    assert seen[0]["duration_ms"] is not None and seen[0]["duration_ms"] >= 0
    assert client.get(f"{API}/flows/usage").json()["executions_this_month"] == 1

    # Deactivate: the webhook is gone; activate again: it answers.
    workflow_id = workflows[0]["id"]
    assert client.post(f"{API}/flows/workflows/{workflow_id}/deactivate").json()["active"] is False
    assert platform.request("POST", instance.host, "/webhook/echo", json={"message": "x"}).status_code == 404
    assert client.post(f"{API}/flows/workflows/{workflow_id}/activate").json()["active"] is True
    # Run now: one more execution.
    run = client.post(f"{API}/flows/workflows/{workflow_id}/run")
    assert run.status_code == 202, run.json()
    wait_for(lambda: client.get(f"{API}/flows/usage").json()["executions_this_month"] == 2, timeout=10,
             what="the run-now execution")
    missing = client.post(f"{API}/flows/workflows/nope/activate")
    assert missing.status_code == 404 and missing.json()["code"] == "workflow_not_found"

    # The owner's login is shown once.
    shown = client.post(f"{API}/flows/admin-login")
    assert shown.status_code == 200 and shown.json()["password"] == password
    again = client.post(f"{API}/flows/admin-login")
    assert again.status_code == 409 and again.json()["code"] == "already_revealed"

    # "Open n8n, signed in": a one-time link on the app's own address sets n8n's session cookie.
    link = client.post(f"{API}/flows/login-link").json()["url"]
    assert link.startswith(f"{instance.url}/_tenantry/login?ticket=")
    path = link.removeprefix(instance.url)
    handed = platform.get(instance.host, path)
    assert handed.status_code == 302 and handed.headers["Location"] == "/"
    session_cookie = handed.cookies.get("n8n-auth")
    assert session_cookie
    platform.session.cookies.clear()
    me = platform.get(instance.host, "/rest/login", headers={"Cookie": f"n8n-auth={session_cookie}"})
    assert me.status_code == 200 and me.json()["data"]["email"] == outputs["owner"]["email"]
    reused = platform.get(instance.host, path)
    assert reused.status_code == 403 and reused.headers["X-Tenantry-State"] == "login-refused"
    assert "already used" in reused.text
    platform.session.cookies.clear()

    # Rotating the API key replaces it in Tenantry; n8n refuses the old one.
    rotated = client.post(f"{API}/flows/rotate-credentials")
    assert rotated.status_code == 202
    operation = last_operation(instance)
    assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    new_key = n8n_key(instance)
    assert new_key != key
    assert platform.get(instance.host, "/api/v1/workflows", headers={"X-N8N-API-KEY": key}).status_code == 401
    assert platform.get(instance.host, "/api/v1/workflows", headers={"X-N8N-API-KEY": new_key}).status_code == 200
    assert fresh(instance).status == Status.RUNNING
    assert len(client.get(f"{API}/flows/workflows").json()) == 1

    # Hibernate and wake: workflows, history and the webhook survive.
    assert client.post(f"{API}/flows/hibernate").status_code == 202
    assert fresh(instance).status == Status.HIBERNATED
    asleep = client.get(f"{API}/flows/workflows")
    assert asleep.status_code == 409 and asleep.json()["code"] == "instance_not_running"
    assert len(client.get(f"{API}/flows/executions").json()["items"]) == 2  # copied history is still shown
    # A webhook to the sleeping instance is held while n8n wakes, then answered by the workflow.
    echo = platform.request("POST", instance.host, "/webhook/echo", json={"message": "awake"}, timeout=60)
    assert echo.status_code == 200 and echo.json() == {"echo": "awake"}
    assert echo.headers["X-Tenantry-State"] == "woken"
    assert fresh(instance).status == Status.RUNNING
    after = platform.get(instance.host, "/api/v1/executions", headers={"X-N8N-API-KEY": new_key}).json()["data"]
    assert len(after) == 3  # n8n's own history kept across the restart
    assert [w["active"] for w in client.get(f"{API}/flows/workflows").json()] == [True]


def test_two_n8n_instances_are_isolated_and_credentials_rotate_in_place(platform, docker_client):
    other_team = Team.objects.create(name="SEO agency", slug="seo-agency")
    subscribe(other_team)  # a customer: creating its instance needs a plan
    first = provisioned("first-flows")
    seo = provisioned("seo-flows", team=other_team,
                      templates=["echo", "seo-1-expand", "seo-2-cluster", "seo-3-publish"],
                      inputs={"openai_api_key": "sk-test-first-0123456789", "wordpress_url": "http://127.0.0.1:9",
                              "wordpress_username": "editor", "wordpress_app_password": "abcd efgh ijkl mnop",
                              "seed_keyword": "self-hosting"})

    # Each instance's key is refused by the other.
    for owner, stranger in ((first, seo), (seo, first)):
        assert platform.get(owner.host, "/api/v1/workflows",
                            headers={"X-N8N-API-KEY": n8n_key(owner)}).status_code == 200
        assert platform.get(stranger.host, "/api/v1/workflows",
                            headers={"X-N8N-API-KEY": n8n_key(owner)}).status_code == 401

    # The SEO pipeline is imported and active, with the customer's credentials created in n8n.
    seo_client = api_client(other_team)
    workflows = {w["name"]: w for w in seo_client.get(f"{API}/seo-flows/workflows").json()}
    assert len(workflows) == 4 and all(w["active"] for w in workflows.values())
    assert any("Monday" in t for t in workflows["SEO 1 · Expand the seed keyword (Monday 02:00)"]["triggers"])
    # Another team's API key does not even see the instance.
    assert api_client().get(f"{API}/seo-flows/workflows").status_code == 404

    container = docker_client.containers.list(filters={"label": f"tenantry.instance={seo.id}"})[0]

    def openai_key_inside_n8n() -> str:
        # n8n's API never shows a secret back: ask its own CLI to export the decrypted credentials.
        result = container.exec_run(["/usr/local/bin/node", "/opt/n8n/node_modules/n8n/bin/n8n",
                                     "export:credentials", "--all", "--decrypted"])
        output = result.output.decode()
        exported = json.loads(output[output.index("["):])
        return next(c for c in exported if c["type"] == "openAiApi")["data"]["apiKey"]

    assert openai_key_inside_n8n() == "sk-test-first-0123456789"
    started_at = container.attrs["State"]["StartedAt"]

    # Rotate the customer's OpenAI key: updated inside n8n, no restart.
    changed = seo_client.post(f"{API}/seo-flows/inputs", {"inputs": {"openai_api_key": "sk-test-second-987654321"}},
                              content_type="application/json")
    assert changed.status_code == 202, changed.json()
    operation = last_operation(seo)
    assert operation.kind == "reconfigure" and operation.status == OperationStatus.SUCCEEDED, operation.error_message
    assert openai_key_inside_n8n() == "sk-test-second-987654321"
    assert instance_inputs(seo)["openai_api_key"] == "sk-test-second-987654321"
    container.reload()
    assert container.attrs["State"]["StartedAt"] == started_at
    assert "sk-test" not in "".join(Step.objects.filter(operation__instance=seo).values_list("log", flat=True))

    unknown = seo_client.post(f"{API}/seo-flows/inputs", {"inputs": {"nope": "x"}}, content_type="application/json")
    assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_input"


def test_template_with_invalid_node_fails_with_n8ns_message(platform, docker_client):
    instance, operation = create("broken-flows", app="n8n", templates=["echo", "broken-node"])
    operation.refresh_from_db()
    assert operation.status == OperationStatus.FAILED
    failed = operation.steps.get(status="failed")
    assert failed.name == "post_provision"
    assert "Unrecognized node type: n8n-nodes-base.doesNotExist" in operation.error_message
    assert "Traceback" not in operation.error_message and "Traceback" not in failed.log
    assert fresh(instance).status == Status.FAILED
    assert installation_resources(docker_client, str(instance.id)) == []


def test_inputs_and_templates_are_checked_before_anything_is_written(platform):
    from tenantry.core.errors import ValidationError
    from tenantry.instances.models import Instance

    with pytest.raises(ValidationError, match="needs the input"):
        create("needs-inputs", app="n8n", templates=["seo-1-expand"])
    with pytest.raises(ValidationError, match="Unknown template"):
        create("no-such-template", app="n8n", templates=["nope"])
    with pytest.raises(ValidationError, match="http"):
        create("bad-url", app="n8n", inputs={"wordpress_url": "ftp://example"})
    assert not Instance.objects.filter(slug__in=["needs-inputs", "no-such-template", "bad-url"]).exists()


def test_n8n_on_its_own_postgresql(platform, docker_client):
    instance = provisioned("pg-flows", app_name="n8n-postgres")
    echo = platform.request("POST", instance.host, "/webhook/echo", json={"message": "on postgres"})
    assert echo.status_code == 200 and echo.json() == {"echo": "on postgres"}
    db = docker_client.containers.list(filters={"label": f"tenantry.instance={instance.id}"})
    db = next(c for c in db if c.labels.get("tenantry.service") == "db")
    password = instance_secret_values(instance)["db_password"]
    result = db.exec_run(["psql", "-h", "127.0.0.1", "-U", "n8n", "-d", "n8n", "-tAc",
                          "select name from workflow_entity"], environment={"PGPASSWORD": password})
    assert result.exit_code == 0, result.output
    assert result.output.decode().split() == ["Echo"]  # n8n's data is in PostgreSQL, not in SQLite
