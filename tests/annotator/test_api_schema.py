"""Property-based run over the OpenAPI schema, logged in as a manager: no 5xx, no response that
breaks the schema, at least 50 examples per operation (multipart uploads included). On CI
(`CI` set) the examples are derandomized, so that a run gates on what it was shown before; a
developer's runs keep exploring new ones."""

from __future__ import annotations

import os

import pytest
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.factories import KeyframeFactory, PersonBoxFactory, VideoFactory
from webapp.wsgi import application

# The same document /api/schema/ serves (that endpoint needs a login; test_permissions covers it).
schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
schema.app = application
# Its 503 when no worker answers is the endpoint doing its job; test_health runs it against a real
# Redis and worker.
schema = schema.exclude(path="/api/v1/health/")
# What the issue asks: no 5xx and nothing outside the schema. Who may call what is checked by
# test_permissions' matrix; semantic 400s (x1 >= x2, an unknown id) are the API working.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@pytest.fixture
def api_state(db, ava_dataset, manager, media_root):  # type: ignore[no-untyped-def]
    """A manager's token, some real rows, and the WSGI app holding on to the test's connection."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    video = VideoFactory(dataset=ava_dataset)
    for _ in range(3):
        PersonBoxFactory(keyframe=KeyframeFactory(video=video))
    # Like Django's test client: keep the test's database connection open across requests.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield {"Authorization": f"Token {Token.objects.create(user=manager).key}"}
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(
    max_examples=50,
    deadline=None,
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
def test_the_api_conforms_to_its_schema(case, api_state) -> None:  # type: ignore[no-untyped-def]
    # Credentials on the case itself, so the authentication checks can take them away and see 401.
    case.headers = {**(case.headers or {}), **api_state}
    case.call_and_validate(checks=CHECKS)


def test_a_body_of_an_unreadable_media_type_is_a_documented_415(manager_client) -> None:  # type: ignore[no-untyped-def]
    response = manager_client.post("/api/v1/videos/", "x", content_type="text/plain")
    assert response.status_code == 415 and "text/plain" in response.json()["detail"]
    document = SchemaGenerator().get_schema(request=None, public=True)
    with_body = [
        (path, method)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if "requestBody" in operation
    ]
    assert ("/api/v1/videos/", "post") in with_body
    for path, method in with_body:
        assert "415" in document["paths"][path][method]["responses"], (path, method)
