"""API.md's conventions: one JSON error envelope for every failure, and an OpenAPI document that validates."""

import io

import pytest
import yaml
from django.core.management import call_command

from registry.models import ExternalAgent


def _assert_envelope(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    assert "Traceback" not in response.content.decode()
    return body["error"]


def test_malformed_json_is_400(staff_client):
    response = staff_client.generic(
        "POST", "/api/agents/", '{"name": "x", "url": ', content_type="application/json"
    )

    _assert_envelope(response, 400, "malformed_request")
    assert not ExternalAgent.objects.exists()


def test_a_json_body_that_is_not_an_object_is_400(staff_client):
    response = staff_client.post("/api/agents/", ["not", "an", "object"], format="json")

    error = _assert_envelope(response, 400, "validation_error")
    assert error["fields"]


def test_an_oversize_body_is_413_before_any_view_reads_it(staff_client, settings):
    settings.MAX_REQUEST_BODY_BYTES = 1024
    body = {"name": "big", "url": "https://agent.example.com", "description": "x" * 2048}

    response = staff_client.post("/api/agents/", body, format="json")

    error = _assert_envelope(response, 413, "request_too_large")
    assert "1024" in error["message"]
    assert not ExternalAgent.objects.exists()


def test_a_body_under_the_limit_passes(staff_client, settings):
    settings.MAX_REQUEST_BODY_BYTES = 4096
    body = {"name": "small", "url": "https://agent.example.com", "description": "x" * 2048}

    assert staff_client.post("/api/agents/", body, format="json").status_code == 201


@pytest.mark.parametrize(
    ("payload", "content_type"),
    [
        ("name=x&url=https://agent.example.com", "application/x-www-form-urlencoded"),
        ("<agent><name>x</name></agent>", "application/xml"),
        ("name: x", "text/plain"),
    ],
)
def test_a_wrong_content_type_is_415(staff_client, payload, content_type):
    response = staff_client.generic("POST", "/api/agents/", payload, content_type=content_type)

    _assert_envelope(response, 415, "unsupported_media_type")
    assert not ExternalAgent.objects.exists()


@pytest.mark.parametrize("path", ["/api/no-such-thing/", "/api/agents/x/y/z/", "/v1/no-such-thing"])
def test_an_unknown_api_path_is_a_404_envelope(staff_client, path):
    _assert_envelope(staff_client.get(path), 404, "not_found")


@pytest.mark.django_db
def test_an_unknown_path_is_a_404_envelope_without_a_token_too(anon_client):
    _assert_envelope(anon_client.get("/api/no-such-thing/"), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("delete", "/api/agents/"),
        ("put", "/api/tools/"),
        ("post", "/api/tools/types/available"),
        ("delete", "/api/llm/config"),
    ],
)
def test_a_wrong_method_is_405_with_allow(staff_client, method, path):
    response = getattr(staff_client, method)(path)

    _assert_envelope(response, 405, "method_not_allowed")
    assert response["Allow"]


@pytest.mark.django_db
def test_the_openapi_document_generates_without_warnings_and_validates(tmp_path):
    target = tmp_path / "openapi.yaml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target), stderr=io.StringIO())

    document = yaml.safe_load(target.read_text())
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    for path in (
        "/api/llm/configs/",
        "/api/llm/configs/{name}/",
        "/api/llm/config",
        "/api/agents/",
        "/api/agents/{name}/",
        "/api/tools/",
        "/api/tools/{name}/",
        "/api/tools/types/available",
        "/api/datasources/",
        "/api/datasources/{name}/",
    ):
        assert path in paths, path
    assert set(paths["/api/agents/{name}/"]) >= {"get", "put", "patch", "delete"}
    assert document["components"]["securitySchemes"]["BearerAuth"]["scheme"] == "bearer"
    agent = document["components"]["schemas"]["ExternalAgent"]["properties"]
    assert "auth_token" not in agent
    assert agent["auth_token_set"]["readOnly"] is True
    assert "auth_token" in document["components"]["schemas"]["ExternalAgentRequest"]["properties"]


@pytest.mark.django_db
def test_schema_and_docs_are_public(anon_client):
    schema = anon_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    docs = anon_client.get("/docs")

    assert schema.status_code == 200
    assert "/api/agents/" in schema.json()["paths"]
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()
