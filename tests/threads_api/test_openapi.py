"""/docs shows every agent endpoint: the async views (execute, SSE, /v1/chat) are in the OpenAPI document
with their request and response shapes, and the document still generates without a warning."""

import io

import pytest
import yaml
from django.core.management import call_command


@pytest.fixture(scope="module")
def document(django_db_blocker, tmp_path_factory):
    target = tmp_path_factory.mktemp("schema") / "openapi.yaml"
    with django_db_blocker.unblock():
        call_command(
            "spectacular", "--validate", "--fail-on-warn", "--file", str(target), stderr=io.StringIO()
        )
    return yaml.safe_load(target.read_text())


def _ref(content: dict, media_type: str = "application/json") -> str:
    return content[media_type]["schema"]["$ref"].rsplit("/", 1)[-1]


def test_every_agent_endpoint_is_documented(document):
    paths = document["paths"]
    expected = {
        "/api/agent/initiate": {"post"},
        "/api/agent/{thread_id}/execute": {"post"},
        "/api/agent/{thread_id}/stream": {"get"},
        "/api/threads/": {"get"},
        "/api/threads/{id}/": {"get", "patch", "delete"},
        "/api/threads/{id}/runs/": {"get"},
        "/api/runs/{id}/": {"get"},
        "/api/runs/{id}/cancel": {"post"},
        "/api/memory/config": {"get"},
        "/api/memory/health": {"get"},
        "/api/memory/{user_id}": {"delete"},
        "/api/memory/{user_id}/history": {"get"},
        "/api/memory/{user_id}/context": {"get"},
        "/api/memory/{user_id}/summary": {"get"},
        "/api/memory/{user_id}/stats": {"get"},
        "/api/memory/{user_id}/message": {"post"},
        "/v1/chat": {"post"},
        "/v1/chat/health": {"get"},
    }
    for path, methods in expected.items():
        assert path in paths, path
        assert methods <= set(paths[path]), path


def test_async_views_carry_their_shapes(document):
    paths, schemas = document["paths"], document["components"]["schemas"]

    execute = paths["/api/agent/{thread_id}/execute"]["post"]
    request = schemas[_ref(execute["requestBody"]["content"])]
    assert set(request["properties"]) >= {
        "task",
        "llm_config",
        "use_tools",
        "use_memory",
        "context_data",
        "parameters",
    }
    assert request["properties"]["task"]["maxLength"] == 100_000
    assert request["required"] == ["task"]
    queued = schemas[_ref(execute["responses"]["202"]["content"])]
    assert set(queued["properties"]) == {"thread_id", "run_id", "status", "created_at"}
    assert {"400", "401", "404", "409", "415"} <= set(execute["responses"])
    assert _ref(execute["responses"]["409"]["content"]) == "ErrorEnvelope"
    assert execute["security"] == [{"BearerAuth": []}]

    stream = paths["/api/agent/{thread_id}/stream"]["get"]
    assert "text/event-stream" in stream["responses"]["200"]["content"]
    assert {p["name"] for p in stream["parameters"]} == {"thread_id", "run_id", "last_id", "Last-Event-ID"}

    chat = paths["/v1/chat"]["post"]
    assert "prompt" in schemas[_ref(chat["requestBody"]["content"])]["properties"]
    answer = schemas[_ref(chat["responses"]["200"]["content"])]
    assert set(answer["properties"]) >= {
        "answer", "thread_id", "run_id", "execution_id", "status", "tool_calls", "usage", "error",
    }  # fmt: skip
    assert "text/event-stream" in chat["responses"]["200"]["content"]
