from __future__ import annotations

from collections.abc import Iterator

import pytest

from tenantry.branding.selectors import forget_brand


@pytest.fixture(autouse=True)
def _fresh_brand(settings, tmp_path) -> Iterator[None]:
    """Each test starts from the environment's defaults and leaves no brand in the cache (the
    cache outlives the database rows a test rolls back)."""
    settings.DATA_DIR = tmp_path
    forget_brand()
    yield
    forget_brand()
