"""What every part of an app spec shares: unknown keys are errors, parsed specs are immutable, and
the pattern names (services, volumes, dumps) follow."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

NAME_PATTERN = r"^[a-z][a-z0-9-]{0,30}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
