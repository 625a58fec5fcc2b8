"""Load backends the way Django loads CACHES/STORAGES: named aliases, a dotted path, options."""

from __future__ import annotations

import threading
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

_cache: dict[tuple[str, str], Any] = {}
_lock = threading.Lock()


def load_backend(setting_name: str, alias: str = "default") -> Any:
    from django.conf import settings

    key = (setting_name, alias)
    with _lock:
        if key not in _cache:
            config = getattr(settings, setting_name, {}).get(alias)
            if config is None:
                raise ImproperlyConfigured(f"{setting_name} has no alias {alias!r}")
            backend_class = import_string(config["BACKEND"])
            _cache[key] = backend_class(alias=alias, **config.get("OPTIONS", {}))
        return _cache[key]


def reset_backends() -> None:
    """Forget loaded backends (tests that change settings call this)."""
    with _lock:
        for backend in _cache.values():
            close = getattr(backend, "close", None)
            if close:
                close()
        _cache.clear()
