"""What the customer chooses for an app at creation: its inputs (external credentials, settings)
and the content templates it is seeded with. Checked before anything is written."""

from __future__ import annotations

import json
import re
from urllib.parse import urlparse

from tenantry.catalog.registry import app_templates
from tenantry.catalog.schema import AppSpec
from tenantry.catalog.templating import variables_in
from tenantry.core.errors import ValidationError

MAX_INPUT_LENGTH = 4096
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def clean_inputs(spec: AppSpec, inputs: dict[str, str] | None, *, partial: bool = False) -> dict[str, str]:
    """Validate the customer's inputs against the spec. `partial`: an update of some of them."""
    inputs = {k: (v or "").strip() for k, v in (inputs or {}).items()}
    declared = {i.name: i for i in spec.inputs}
    unknown = sorted(set(inputs) - set(declared))
    if unknown:
        raise ValidationError(f"App {spec.name!r} takes no input named {', '.join(unknown)}.",
                              code="unknown_input", details={"field": "inputs", "unknown": unknown,
                                                             "known": sorted(declared)})
    cleaned: dict[str, str] = {}
    for name, value in inputs.items():
        spec_input = declared[name]
        if not value:
            continue
        if len(value) > MAX_INPUT_LENGTH:
            raise ValidationError(f"{spec_input.label} is too long.", details={"field": f"inputs.{name}"})
        if spec_input.kind == "url" and (urlparse(value).scheme not in ("http", "https") or not urlparse(value).netloc):
            raise ValidationError(f"{spec_input.label} must be an http(s) address.", code="invalid_input",
                                  details={"field": f"inputs.{name}"})
        if spec_input.kind == "email" and not _EMAIL.match(value):
            raise ValidationError(f"{spec_input.label} must be an email address.", code="invalid_input",
                                  details={"field": f"inputs.{name}"})
        cleaned[name] = value
    if not partial:
        missing = [i.name for i in spec.inputs if i.required and i.name not in cleaned]
        if missing:
            raise ValidationError(f"Missing input(s): {', '.join(missing)}.", code="missing_input",
                                  details={"field": "inputs", "missing": missing})
    return cleaned


def clean_templates(spec: AppSpec, templates: list[str] | None, inputs: dict[str, str]) -> list[str]:
    """The templates to seed the app with (the spec's defaults when not given), and a check that
    the inputs they depend on were given (a template naming the OpenAI credential needs its key)."""
    chosen = list(spec.templates.default if templates is None else templates)
    available = app_templates(spec.name)
    unknown = sorted(set(chosen) - set(available))
    if unknown:
        raise ValidationError(f"Unknown template(s) for {spec.name!r}: {', '.join(unknown)}.",
                              code="unknown_template", details={"field": "templates", "unknown": unknown,
                                                                "known": sorted(available)})
    needs = {hook.name: hook.when_inputs for hook in spec.hooks.post_provision if hook.when_inputs}
    for name in chosen:
        text = json.dumps(available[name])
        referenced = {v for v in variables_in(text, lenient=True) if v.startswith(("inputs.", "outputs."))}
        required = {v.split(".")[1] for v in referenced if v.startswith("inputs.")}
        for variable in referenced:
            hook = variable.split(".")[1] if variable.startswith("outputs.") else None
            required |= set(needs.get(hook or "", []))
        missing = sorted(required - set(inputs))
        if missing:
            raise ValidationError(f"Template {name!r} needs the input(s) {', '.join(missing)}.",
                                  code="missing_input", details={"field": "inputs", "template": name,
                                                                 "missing": missing})
    return chosen

