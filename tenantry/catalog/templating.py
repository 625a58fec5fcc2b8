"""`{{ instance.slug }}` substitution for app specs.

Deliberately tiny and strict: dotted names only, no expressions, an unknown name is an error
(at load time for the spec, at render time for the values).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_NAME = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_-]*)*$")

INSTANCE_FIELDS = ("id", "slug", "host", "url", "app")


class TemplateError(ValueError):
    pass


def variables_in(text: str) -> set[str]:
    names = set()
    for match in _PLACEHOLDER.finditer(text):
        name = match.group(1)
        if not _NAME.match(name):
            raise TemplateError(f"{{{{ {name} }}}} is not a dotted variable name")
        names.add(name)
    return names


def template_variables(*, secret_names: list[str], service_names: list[str]) -> set[str]:
    names = {f"instance.{f}" for f in INSTANCE_FIELDS}
    names |= {f"secrets.{s}" for s in secret_names}
    names |= {f"services.{s}.host" for s in service_names}
    return names


def render(text: str, context: Mapping[str, Any]) -> str:
    def lookup(match: re.Match[str]) -> str:
        value: Any = context
        for part in match.group(1).split("."):
            if not isinstance(value, Mapping) or part not in value:
                raise TemplateError(f"unknown template variable {match.group(1)!r}")
            value = value[part]
        return str(value)

    return _PLACEHOLDER.sub(lookup, text)
