"""What every part of an app spec shares: unknown keys are errors, parsed specs are immutable, the
pattern names (services, volumes, dumps) follow, and a template names only known variables."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from tenantry.catalog.templating import TemplateError, variables_in

NAME_PATTERN = r"^[a-z][a-z0-9-]{0,30}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_template(where: str, text: str, allowed: set[str], open_prefixes: tuple[str, ...] = ()) -> None:
    try:
        unknown = {name for name in variables_in(text) - allowed if not name.startswith(open_prefixes)}
    except TemplateError as exc:
        raise ValueError(f"{where}: {exc}") from exc
    if unknown:
        raise ValueError(f"{where}: unknown template variable(s) {', '.join(sorted(unknown))}")
