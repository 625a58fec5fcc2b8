"""The WSGI application, as `tenantry up` serves it (gunicorn, each worker imports this module).

Everything a request can reach is imported here, at start, and then moved out of the garbage
collector's reach (`gc.freeze`, as `tenantry serve` does in its preloaded parent): a web worker
holds ~190,000 tracked objects of Django, the apps, django-ninja's schemas and pydantic, and a
full (oldest generation) collection walked all of them — 130-370 ms measured on this machine,
paid by whichever request's allocations set it off (about one list of 100 instances in 200: the
p99 of the list at 1,000 instances, issue 15). Frozen, a full collection walks only what was
allocated since; objects frozen are never freed, and they are the code and its tables, kept for
the process's life anyway.
"""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tenantry.settings")
application = get_wsgi_application()


def _freeze_loaded_code() -> None:
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018  every URLconf, router, view and schema module
    gc.collect()
    gc.freeze()


_freeze_loaded_code()
