"""The queue backend follows the settings: SQLite by default, Redis when REDIS_URL is set."""

from __future__ import annotations

import os

from django.conf import settings
from huey.contrib.djhuey import HUEY


def test_queue_backend_matches_the_environment():
    if os.environ.get("REDIS_URL"):
        assert type(HUEY).__name__ == "RedisHuey"
        assert settings.HUEY["connection"]["url"] == os.environ["REDIS_URL"]
    else:
        assert type(HUEY).__name__ == "SqliteHuey"
        assert settings.HUEY["filename"].startswith(str(settings.DATA_DIR))
    assert HUEY.name == settings.HUEY["name"]
