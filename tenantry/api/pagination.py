"""The one pagination every list endpoint of the API uses: limit/offset with bounds.

django-ninja's LimitOffsetPagination caps neither: `?limit=225078` read whole tables and an offset
past 2**63 overflowed the database driver (a 500). Out-of-range values are a 422 in the API's
error shape, like any other invalid input.
"""

from __future__ import annotations

from typing import Any

from ninja import Field, Schema
from ninja.pagination import LimitOffsetPagination

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 100
# Far beyond any real list, well inside the 64-bit integers SQLite and PostgreSQL take for OFFSET.
MAX_OFFSET = 1_000_000_000


class BoundedPagination(LimitOffsetPagination):
    class Input(Schema):
        limit: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, description=f"At most {MAX_PAGE_SIZE}")
        offset: int = Field(0, ge=0, le=MAX_OFFSET)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_limit=MAX_PAGE_SIZE, **kwargs)
