"""Hook specs are checked when the catalog loads: a hook may only name the outputs of hooks that
run before it, declared inputs and the list it iterates; JSON bodies render with their types."""

from __future__ import annotations

import pytest

from tenantry.catalog.registry import CatalogError, parse_spec
from tenantry.catalog.schema import SecretSpec
from tenantry.catalog.templating import TemplateError, render_json
from tenantry.instances.secrets import generate_secret

BASE = {
    "name": "mini", "title": "Mini", "entrypoint": {"service": "web", "port": 80},
    "services": {"web": {"image": "x:1"}},
    "inputs": [{"name": "token", "label": "Token"}],
}


def spec_with(*hooks, phase="post_provision", **extra):
    return {**BASE, "hooks": {phase: list(hooks)} if phase == "post_provision"
            else {"post_provision": extra.pop("first", []), phase: list(hooks)}, **extra}


def login(name="login", **http):
    return {"name": name, "http": {"path": "/login", "capture": {"key": "data.key"}, **http}}


def test_a_hook_may_use_what_earlier_hooks_captured():
    spec = parse_spec(spec_with(login(), {"name": "use", "http": {
        "path": "/x", "headers": {"K": "{{ outputs.login.key }}"}, "json": {"t": "{{ inputs.token }}"}}}))
    assert [h.name for h in spec.hooks.post_provision] == ["login", "use"]


@pytest.mark.parametrize(("hooks", "words"), [
    # used before it is produced
    ([{"name": "use", "http": {"path": "/{{ outputs.login.key }}"}}, login()], "unknown template variable"),
    # an output the hook does not capture
    ([login(), {"name": "use", "http": {"path": "/", "json": {"k": "{{ outputs.login.nope }}"}}}],
     "outputs.login.nope"),
    ([{"name": "x", "when_inputs": ["ghost"], "http": {"path": "/"}}], "unknown input 'ghost'"),
    ([{"name": "x", "for_each": "secrets", "http": {"path": "/"}}], "for_each: must be"),
    ([{"name": "x", "for_each": "templates", "http": {"path": "/{{ item.nope }}"}}], "item.nope"),
    ([login(), login()], "hook names must be unique"),
    ([{"name": "x", "http": {"path": "/", "json": {"a": ["{{ secrets.none }}"]}}}], "http.json.a.0"),
])
def test_bad_hooks_are_refused_at_load(hooks, words):
    with pytest.raises(CatalogError) as caught:
        parse_spec(spec_with(*hooks), source="mini.yaml")
    assert words in caught.value.message, caught.value.message


def test_for_each_over_a_captured_list_takes_any_item_key():
    listing = {"name": "keys", "http": {"method": "GET", "path": "/keys", "capture": {"all": "data"}}}
    each = {"name": "revoke", "for_each": "outputs.keys.all",
            "http": {"method": "DELETE", "path": "/keys/{{ item.id }}"}}
    assert parse_spec(spec_with(listing, each)).hooks.post_provision[1].for_each == "outputs.keys.all"


def test_rotation_hooks_may_use_first_start_outputs_only():
    ok = spec_with({"name": "again", "http": {"path": "/{{ outputs.login.key }}"}}, phase="rotate_credentials",
                   first=[login()])
    assert parse_spec(ok).hooks.rotate_credentials[0].name == "again"
    with pytest.raises(CatalogError, match=r"outputs\.login\.key"):
        parse_spec(spec_with({"name": "again", "http": {"path": "/{{ outputs.login.key }}"}},
                             phase="rotate_credentials"))


def test_admin_and_automation_name_real_outputs():
    spec = spec_with(login(), admin={"login": "{{ outputs.login.key }}", "password": "{{ inputs.token }}"},
                     automation={"backend": "n8n", "api_key": "{{ outputs.login.key }}"})
    assert parse_spec(spec).automation.backend == "n8n"
    with pytest.raises(CatalogError, match=r"automation\.api_key"):
        parse_spec(spec_with(login(), automation={"backend": "n8n", "api_key": "{{ outputs.other.key }}"}))


def test_render_json_keeps_types_and_leaves_app_expressions_alone():
    context = {"outputs": {"scopes": {"all": ["a:read", "a:write"]}}, "instance": {"slug": "acme"}}
    body = {"scopes": "{{ outputs.scopes.all }}", "label": "key for {{ instance.slug }}", "n": 3,
            "expr": "={{ $json.body.message }}", "nested": [{"s": "{{ instance.slug }}"}]}
    assert render_json(body, context, lenient=True) == {
        "scopes": ["a:read", "a:write"], "label": "key for acme", "n": 3,
        "expr": "={{ $json.body.message }}", "nested": [{"s": "acme"}]}
    with pytest.raises(TemplateError):
        render_json({"expr": "={{ $json.x }}"}, context)  # strict for spec bodies
    with pytest.raises(TemplateError, match=r"outputs\.missing"):
        render_json({"x": "{{ outputs.missing }}"}, context, lenient=True)


def test_password_secrets_satisfy_app_password_rules():
    for _ in range(300):
        value = generate_secret(SecretSpec(name="p", length=8, alphabet="password"))
        assert len(value) == 8 and any(c.isupper() for c in value) and any(c.islower() for c in value) \
            and any(c.isdigit() for c in value)


def test_a_variant_extends_an_app(tmp_path, settings):
    from tenantry.catalog.registry import get_app, load_spec_file, reload_catalog

    (tmp_path / "hello-big.yaml").write_text(
        "extends: hello\nname: hello-big\ntitle: Hello, big\n"
        "services:\n  web:\n    resources: {memory_mb: 512}\n    environment: {HELLO_TOKEN: null, EXTRA: 'yes'}\n")
    (tmp_path / "loop-a.yaml").write_text("extends: loop-b\nname: loop-a\n")
    (tmp_path / "loop-b.yaml").write_text("extends: loop-a\nname: loop-b\n")
    settings.TENANTRY = {**settings.TENANTRY, "CATALOG_DIRS": [str(tmp_path)]}
    big = load_spec_file(tmp_path / "hello-big.yaml")
    assert big.extends == "hello" and big.title == "Hello, big"
    web = big.services["web"]
    assert web.resources.memory_mb == 512 and web.image == "tenantry/hello:1"  # merged, not replaced
    assert "HELLO_TOKEN" not in web.environment and web.environment["EXTRA"] == "yes"
    assert web.environment["HELLO_INSTANCE"] == "{{ instance.slug }}"
    with pytest.raises(CatalogError, match="loops"):
        load_spec_file(tmp_path / "loop-a.yaml")
    (tmp_path / "loop-a.yaml").unlink()
    (tmp_path / "loop-b.yaml").write_text("extends: nowhere\nname: loop-b\n")
    with pytest.raises(CatalogError, match="extends unknown app 'nowhere'"):
        load_spec_file(tmp_path / "loop-b.yaml")
    (tmp_path / "loop-b.yaml").unlink()
    reload_catalog()
    assert get_app("hello-big").services["web"].resources.memory_mb == 512


@pytest.mark.django_db
def test_an_input_left_empty_is_its_default_for_hooks_but_never_stored():
    """n8n's OpenAI credential is pushed with OpenAI's own address unless the customer gives another."""
    from tenantry.accounts.services.teams import operator_team
    from tenantry.catalog.registry import get_app
    from tenantry.instances.hooks import hook_context
    from tenantry.instances.models import Instance
    from tenantry.instances.secrets import instance_inputs, store_inputs
    from tenantry.runtime.placement import default_server

    spec = get_app("n8n")
    instance = Instance.objects.create(team=operator_team(), slug="defaults", app="n8n", server=default_server(),
                                       memory_mb=64, cpus=0.25, pids=64)
    store_inputs(instance, {"openai_api_key": "sk-1"})
    assert hook_context(instance, spec)["inputs"] == {"openai_api_key": "sk-1",
                                                      "openai_base_url": "https://api.openai.com/v1"}
    assert instance_inputs(instance) == {"openai_api_key": "sk-1"}
    store_inputs(instance, {"openai_base_url": "http://llm.internal:8000/v1"})
    assert hook_context(instance, spec)["inputs"]["openai_base_url"] == "http://llm.internal:8000/v1"
