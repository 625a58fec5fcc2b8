"""The edge's ASGI application, for an ASGI server run apart from `tenantry edge`:
`uvicorn tenantry.edge.asgi:application --host 127.0.0.1 --port 8001`."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tenantry.settings")
django.setup()

from tenantry.edge.app import EdgeApp  # noqa: E402 - needs Django set up

application = EdgeApp()
