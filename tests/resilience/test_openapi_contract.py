"""Each case of issue 11 where the API and its OpenAPI document disagreed, now in agreement: what the
document calls valid is accepted, what it calls invalid is refused with the envelope and changes nothing,
and every status an operation answers is documented (the fuzz test checks the whole document)."""

import pytest

from registry.models import ExternalAgent, LLMConfig
from tests.registry import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def document(anon_client) -> dict:
    return anon_client.get("/api/schema/?format=json").json()


def _parameter(document: dict, path: str, method: str, name: str) -> dict:
    operation = document["paths"][path][method]
    return next(p for p in operation["parameters"] if p["name"] == name)


@pytest.mark.parametrize("value", ["null", "0", "-3", "ten"])
def test_a_page_size_that_is_not_a_whole_number_from_1_is_a_400(user_client, value):
    response = user_client.get(f"/api/threads/?page_size={value}")
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["page_size"] == ["Must be a whole number from 1."]


def test_a_page_size_over_200_is_read_as_200_and_the_document_says_so(user_client, document):
    assert user_client.get("/api/threads/?page_size=500").status_code == 200
    assert _parameter(document, "/api/threads/", "get", "page_size")["schema"]["minimum"] == 1


def test_history_limit_and_resume_points_have_the_bounds_the_server_checks(user_client, document):
    assert user_client.get("/api/memory/alice/history?limit=0").status_code == 400
    assert user_client.get("/api/memory/alice/history?limit=1000").status_code == 200
    limit = _parameter(document, "/api/memory/{user_id}/history", "get", "limit")["schema"]
    assert (limit["minimum"], limit["maximum"]) == (1, 1000)
    for name in ("last_id", "Last-Event-ID"):
        assert _parameter(document, "/api/agent/{thread_id}/stream", "get", name)["schema"]["minimum"] == 0


def test_put_of_the_default_llm_config_without_a_body_is_a_400_and_changes_nothing(staff_client, document):
    factories.llm_config_create(description="as it was")

    response = staff_client.generic("PUT", "/api/llm/config")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert LLMConfig.objects.get().description == "as it was"

    assert staff_client.put("/api/llm/config", {}, format="json").status_code == 200
    assert document["paths"]["/api/llm/config"]["put"]["requestBody"]["required"] is True


def test_llm_test_refuses_a_prompt_that_is_not_a_string(staff_client):
    factories.llm_config_create()
    response = staff_client.post("/api/llm/test", {"prompt": 0}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["prompt"] == ["Must be a string."]


@pytest.mark.parametrize(
    ("field", "value"),
    [("metadata", None), ("metadata", [1]), ("input_schema", None), ("description", 0), ("enabled", 1)],
)
def test_registry_writes_refuse_what_the_document_calls_invalid(staff_client, document, field, value):
    body = {"name": "billing", "url": "https://agent.example.com", field: value}
    response = staff_client.post("/api/agents/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not ExternalAgent.objects.exists()
    schema = document["components"]["schemas"]["ExternalAgentRequest"]["properties"][field]
    assert "null" not in str(schema.get("type", ""))


def test_an_empty_endpoint_calls_the_agents_own(staff_client, fake_agent):
    factories.agent_create(name="billing", url=fake_agent.base_url, auth_token=fake_agent.token)

    response = staff_client.post("/api/agents/billing/call/?endpoint=", {"task": "t"}, format="json")

    assert response.status_code == 200
    assert response.json()["ok"] is True
    assert fake_agent.requests[-1].path == "/execute"


def test_an_endpoint_with_a_control_character_is_a_400(staff_client):
    factories.agent_create(name="billing")
    response = staff_client.post("/api/agents/billing/call/?endpoint=/a%1Db", {"task": "t"}, format="json")
    assert response.status_code == 400
    assert "endpoint" in response.json()["error"]["fields"]


def test_the_sse_endpoints_are_described_as_event_streams_of_run_events(document):
    for path, method in (("/api/agent/{thread_id}/stream", "get"), ("/v1/chat", "post")):
        frame = document["paths"][path][method]["responses"]["200"]["content"]["text/event-stream"]["schema"]
        assert frame["required"] == ["id", "event", "data"]
        data = frame["properties"]["data"]
        assert data["contentMediaType"] == "application/json"
        assert {"type", "run_id", "seq"} <= set(data["contentSchema"]["required"])


def test_every_operation_documents_its_plumbing_errors(document):
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert "503" in codes, (method, path)
            if operation.get("security") and {} not in operation["security"]:
                assert "401" in codes, (method, path)
            if "requestBody" in operation:
                assert {"400", "413", "415"} <= codes, (method, path)
            if "{" in path:
                assert "404" in codes, (method, path)


def test_a_nul_character_in_a_json_string_is_a_400_and_changes_nothing(user_client):
    """Postgres stores a NUL neither in text nor in jsonb: refused before anything is written."""
    before = user_client.get("/api/threads/").json()["count"]
    response = user_client.post(
        "/api/agent/initiate", '{"title": "a\\u0000b"}', content_type="application/json"
    )
    assert response.status_code == 400
    assert "NUL" in response.json()["error"]["message"]
    response = user_client.post("/v1/chat", '{"prompt": "x\\u0000"}', content_type="application/json")
    assert response.status_code == 400
    assert user_client.get("/api/threads/").json()["count"] == before
