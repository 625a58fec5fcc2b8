"""`{{ instance.slug }}` substitution for app specs.

Deliberately tiny and strict: dotted names only, no expressions, an unknown name is an error
(at load time for the spec, at render time for the values).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_NAME = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_-]*)*$")

# `scheme` is http or https (TENANTRY_PUBLIC_SCHEME); `secure` is "true" behind TLS, else "false".
# `host`/`url`: the instance's own address, never changing; `public_host`/`public_url`: where its
# users reach it — its first verified custom domain if it has one (settings holding the app's
# public URL use these: they are updated in place when the domain is verified or removed).
INSTANCE_FIELDS = ("id", "slug", "host", "url", "public_host", "public_url", "scheme", "secure", "app",
                   "admin_email", "time_zone")


class TemplateError(ValueError):
    pass


def variables_in(text: str, *, lenient: bool = False) -> set[str]:
    """The dotted names a text's `{{ … }}` use. `lenient` skips other `{{ … }}` (an app's own
    expressions in content templates) instead of refusing them, as `render(lenient=True)` does."""
    names = set()
    for match in _PLACEHOLDER.finditer(text):
        name = match.group(1)
        if not _NAME.match(name):
            if lenient:
                continue
            raise TemplateError(f"{{{{ {name} }}}} is not a dotted variable name")
        names.add(name)
    return names


def template_variables(*, secret_names: list[str], service_names: list[str],
                       input_names: Sequence[str] = ()) -> set[str]:
    names = {f"instance.{f}" for f in INSTANCE_FIELDS}
    names |= {f"secrets.{s}" for s in secret_names}
    names |= {f"services.{s}.host" for s in service_names}
    names |= {f"inputs.{i}" for i in input_names}
    return names


def _lookup(name: str, context: Mapping[str, Any]) -> Any:
    value: Any = context
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise TemplateError(f"unknown template variable {name!r}")
        value = value[part]
    return value


def render(text: str, context: Mapping[str, Any], *, lenient: bool = False) -> str:
    def substitute(match: re.Match[str]) -> str:
        if lenient and not _NAME.match(match.group(1)):
            return match.group(0)
        return str(_lookup(match.group(1), context))

    return _PLACEHOLDER.sub(substitute, text)


def render_json(value: Any, context: Mapping[str, Any], *, lenient: bool = False) -> Any:
    """Render every string inside a JSON value. A string that is exactly one placeholder becomes
    the value itself (so a list of scopes stays a list); values are never rendered twice.

    `lenient` leaves `{{ … }}` that are not dotted names alone: an app's own expressions
    (n8n's `{{ $json.body }}`) inside content templates.
    """
    if isinstance(value, str):
        whole = _PLACEHOLDER.fullmatch(value.strip())
        if whole is not None and _NAME.match(whole.group(1)):
            return _lookup(whole.group(1), context)
        return render(value, context, lenient=lenient)
    if isinstance(value, dict):
        return {key: render_json(item, context, lenient=lenient) for key, item in value.items()}
    if isinstance(value, list):
        return [render_json(item, context, lenient=lenient) for item in value]
    return value
