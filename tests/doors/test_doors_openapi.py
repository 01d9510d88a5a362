"""The doors are in the OpenAPI document (/docs), and what they answer is what it says: real answers of the
OpenAI-compatible paths, the agent card and the A2A endpoint are validated against the documented schemas
(the fuzz test in tests/resilience exercises every operation of the document too)."""

import httpx
import jsonschema
import pytest
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from tests.fakes.openai_server import text

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def document(anon_client) -> dict:
    return anon_client.get("/api/schema/?format=json").json()


def _validator(document: dict, schema: dict) -> jsonschema.Draft202012Validator:
    """A validator of a documented schema (a `$ref` into the document's components)."""
    registry = Registry().with_resource("urn:openapi", DRAFT202012.create_resource(document))
    return jsonschema.Draft202012Validator({"$ref": "urn:openapi" + schema["$ref"]}, registry=registry)


def _response_schema(document: dict, path: str, method: str, status: str, media: str = "application/json"):
    return document["paths"][path][method]["responses"][status]["content"][media]["schema"]


def test_the_document_has_every_door(document):
    paths = document["paths"]
    assert set(paths["/v1/models"]) == {"get"}
    assert set(paths["/v1/models/{model_id}"]) == {"get"}
    completions = paths["/v1/chat/completions"]["post"]
    assert set(completions["responses"]["200"]["content"]) == {"application/json", "text/event-stream"}
    assert {"400", "401", "404", "413", "415", "429", "503"} <= set(completions["responses"])
    assert "/.well-known/agent-card.json" in paths
    assert "JSON-RPC" in paths["/a2a"]["post"]["summary"]
    # /mcp is the MCP protocol rather than operations: the document says what it is.
    assert "/mcp" not in paths
    assert "**MCP server** at `/mcp`" in document["info"]["description"]
    assert "stateless" in document["info"]["description"]
    # Errors on the OpenAI paths are documented in OpenAI's shape, elsewhere in the envelope.
    error = _response_schema(document, "/v1/chat/completions", "post", "404")
    assert error == {"$ref": "#/components/schemas/OpenAIError"}
    assert document["components"]["schemas"]["OpenAIError"]["properties"]["error"]["required"] == [
        "message",
        "type",
        "code",
        "param",
    ]


def test_answers_of_the_openai_paths_match_their_schemas(document, server, user_client, llm, fake_openai):
    fake_openai.script(text("Documented."))
    headers = {"Authorization": f"Bearer {user_client.raw_token}"}
    request = {
        "model": "fake",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        "temperature": 0.5,
    }
    request_schema = document["paths"]["/v1/chat/completions"]["post"]["requestBody"]["content"]
    _validator(document, request_schema["application/json"]["schema"]).validate(request)

    answers = [
        ("/v1/models", "get", "200", httpx.get(f"{server}/v1/models", headers=headers)),
        ("/v1/models/{model_id}", "get", "200", httpx.get(f"{server}/v1/models/fake", headers=headers)),
        ("/v1/models/{model_id}", "get", "404", httpx.get(f"{server}/v1/models/nope", headers=headers)),
        ("/v1/models", "get", "401", httpx.get(f"{server}/v1/models")),
        (
            "/v1/chat/completions",
            "post",
            "200",
            httpx.post(f"{server}/v1/chat/completions", json=request, headers=headers, timeout=20),
        ),
        (
            "/v1/chat/completions",
            "post",
            "400",
            httpx.post(f"{server}/v1/chat/completions", json={"model": "fake"}, headers=headers),
        ),
    ]
    for path, method, status, response in answers:
        assert str(response.status_code) == status, (path, response.text)
        _validator(document, _response_schema(document, path, method, status)).validate(response.json())


def test_the_agent_card_and_a2a_answers_match_their_schemas(document, server, user_client, llm):
    card = httpx.get(f"{server}/.well-known/agent-card.json")
    _validator(document, _response_schema(document, "/.well-known/agent-card.json", "get", "200")).validate(
        card.json()
    )
    response = httpx.post(
        f"{server}/a2a",
        json={"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": "no-such-task"}},
        headers={"Authorization": f"Bearer {user_client.raw_token}", "A2A-Version": "1.0"},
    )
    assert response.status_code == 200
    _validator(document, _response_schema(document, "/a2a", "post", "200")).validate(response.json())
    assert "error" in response.json()
