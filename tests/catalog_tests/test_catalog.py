"""App specs: the shipped ones validate and render; bad ones are refused naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from tenantry.accounts.services.teams import operator_team
from tenantry.catalog.registry import BUILTIN_DIR, CatalogError, get_app, load_spec_file, parse_spec
from tenantry.instances.deployment import build_deployment
from tenantry.instances.models import Instance
from tenantry.instances.secrets import create_instance_secrets, instance_secret_values
from tenantry.runtime.placement import default_server

HELLO = {
    "name": "mini", "title": "Mini", "entrypoint": {"service": "web", "port": 80},
    "services": {"web": {"image": "x:1"}},
}


def _with(**changes) -> dict:
    import copy

    spec = copy.deepcopy(HELLO)
    for path, value in changes.items():
        target = spec
        keys = path.split("__")
        for key in keys[:-1]:
            target = target.setdefault(key, {})
        target[keys[-1]] = value
    return spec


def test_every_shipped_spec_validates():
    names = sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml"))
    assert names == ["erpnext", "hello", "n8n", "n8n-postgres", "wordpress"]
    for path in BUILTIN_DIR.glob("*.yaml"):
        assert load_spec_file(path).name == path.stem


def test_erpnext_has_its_multi_service_layout():
    spec = get_app("erpnext")
    assert set(spec.services) == {"db", "redis-cache", "redis-queue", "backend", "websocket", "queue-short",
                                  "queue-long", "scheduler", "frontend"}
    order = spec.start_order()
    assert order.index("db") < order.index("backend") < order.index("frontend")
    assert order.index("websocket") < order.index("frontend")
    assert [h.name for h in spec.hooks.post_provision] == ["configure-bench", "create-site"]


@pytest.mark.parametrize(("changes", "field", "words"), [
    ({"services__web__resources": {"memory_mb": 4}}, "services.web.resources.memory_mb", "greater than or equal"),
    ({"services__web__imagee": "typo"}, "services.web.imagee", "Extra inputs"),
    ({"entrypoint__service": "nope"}, "(top level)", "entrypoint.service: unknown service 'nope'"),
    ({"services__web__depends_on": ["ghost"]}, "(top level)", "services.web.depends_on: unknown service"),
    ({"services__web__environment": {"A": "{{ secrets.missing }}"}}, "(top level)",
     "services.web.environment.A: unknown template variable(s) secrets.missing"),
    ({"services__web__environment": {"A": "{{ 1 + 1 }}"}}, "(top level)", "is not a dotted variable name"),
    ({"services__web__volumes": [{"name": "data", "mount": "relative"}]}, "services.web.volumes.0.mount",
     "absolute path"),
    ({"services__web__healthcheck": {"interval_seconds": 3}}, "services.web.healthcheck",
     "exactly one of `http` or `command`"),
    ({"name": "Bad Name"}, "name", "should match pattern"),
])
def test_bad_specs_name_the_offending_field(changes, field, words):
    with pytest.raises(CatalogError) as caught:
        parse_spec(_with(**changes), source="mini.yaml")
    problems = caught.value.details["errors"]
    assert any(p["field"] == field and words in p["message"] for p in problems), problems
    assert caught.value.message.startswith("mini.yaml: ")


def test_dependency_cycles_are_refused():
    spec = _with(services={"a": {"image": "x", "depends_on": ["b"]}, "b": {"image": "x", "depends_on": ["a"]}},
                 entrypoint={"service": "a", "port": 80})
    with pytest.raises(CatalogError, match="dependency cycle a -> b -> a"):
        parse_spec(spec)


def test_bad_yaml_file(tmp_path: Path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(CatalogError, match="not valid YAML"):
        load_spec_file(path)


@pytest.mark.django_db
@pytest.mark.parametrize("app", ["n8n", "wordpress", "erpnext", "hello"])
def test_specs_render_into_deployments(app):
    spec = get_app(app)
    instance = Instance.objects.create(team=operator_team(), slug=f"r-{app}", app=app, server=default_server(),
                                       subnet="172.31.9.0/27",
                                       memory_mb=spec.default_resources().memory_mb,
                                       cpus=spec.default_resources().cpus, pids=spec.default_resources().pids)
    create_instance_secrets(instance, spec.secrets)
    deployment = build_deployment(instance)
    secrets = instance_secret_values(instance)
    assert [c.service for c in deployment.containers] == spec.start_order()
    assert len({c.ip for c in deployment.containers}) == len(deployment.containers)
    assert all(c.ip.startswith("172.31.9.") and c.ip != "172.31.9.1" for c in deployment.containers)
    assert sum(c.limits.memory_mb for c in deployment.containers) == instance.memory_mb
    for container in deployment.containers:
        for value in container.environment.values():
            assert "{{" not in value
    if app == "n8n":
        env = deployment.container("main").environment
        assert env["N8N_ENCRYPTION_KEY"] == secrets["encryption_key"] and len(secrets["encryption_key"]) == 48
        assert env["WEBHOOK_URL"] == f"{instance.url}/"
        assert env["N8N_DIAGNOSTICS_ENABLED"] == "false"
    if app == "wordpress":
        assert deployment.container("web").environment["WORDPRESS_DB_HOST"] == "db"
        assert deployment.container("web").environment["WORDPRESS_DB_PASSWORD"] == \
            deployment.container("db").environment["MARIADB_PASSWORD"] == secrets["db_password"]
    if app == "erpnext":
        assert deployment.container("frontend").environment["FRAPPE_SITE_NAME_HEADER"] == instance.host
        assert deployment.entrypoint_service == "frontend" and deployment.upstream_url.endswith(":8080")
        sites = {c.service for c in deployment.containers if any(m.path.endswith("/sites") for m in c.mounts)}
        assert sites == {"backend", "websocket", "queue-short", "queue-long", "scheduler", "frontend"}
        # one sites volume shared by all of them
        assert len({m.volume for c in deployment.containers for m in c.mounts if m.path.endswith("/sites")}) == 1
    assert "{{" not in repr(deployment)
    assert all(value not in repr(deployment) for value in secrets.values())  # secrets stay out of reprs


@pytest.mark.django_db
def test_image_overrides_map_public_images_to_local_ones(settings):
    settings.TENANTRY = {**settings.TENANTRY, "IMAGE_OVERRIDES": {"n8nio/n8n:2.8.4": "tenantry/n8n:2.8.4"}}
    instance = Instance.objects.create(team=operator_team(), slug="ov", app="n8n", server=default_server(),
                                       subnet="172.31.8.0/27",
                                       memory_mb=768, cpus=1, pids=512)
    create_instance_secrets(instance, get_app("n8n").secrets)
    assert build_deployment(instance).container("main").image == "tenantry/n8n:2.8.4"
