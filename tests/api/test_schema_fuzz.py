"""Fuzzing the API against its own OpenAPI schema with schemathesis, authenticated with a team's
API key: no answer is a server error, and every answer conforms to the schema (documented status
code, content type, body shape)."""

from __future__ import annotations

import json

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tenantry.accounts.services.api_keys import api_key_create
from tests.dashboard.helpers import make_user

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture()
def api_key(db):
    team = make_user("fuzz@example.com").memberships.get().team
    return api_key_create(team=team, name="fuzz").plaintext


def _load() -> schemathesis.schemas.BaseSchema:
    """The schema the running API serves, through the WSGI app (no server, no database)."""
    from ninja.responses import NinjaJSONEncoder

    from tenantry.api.root import api

    document = json.loads(json.dumps(api.get_openapi_schema(), cls=NinjaJSONEncoder))
    loaded = schemathesis.openapi.from_dict(document)
    loaded.app = get_wsgi_application()
    return loaded


schema = _load()


@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_conforms_to_its_schema(case, api_key):
    case.call_and_validate(headers={"Authorization": f"Bearer {api_key}"}, checks=CHECKS)
