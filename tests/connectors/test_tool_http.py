"""The `http` tool against a real API on loopback: calls under the base URL, escapes refused unsent."""

import logging

import pytest

from orchestrator_studio.errors import DomainError
from registry.connectors.tools import ToolError, tool_call, tool_probe
from registry.connectors.tools.http import tool_url
from tests.connectors import factories
from tests.fakes.scripted_reply import hang_reply, json_reply, redirect_reply, text_reply
from tests.fakes.server import free_port


def http_tool(fake, **config):
    return factories.tool(
        config={"base_url": f"{fake.base_url}/api/v1", "auth_token": fake.token, "timeout": 2, **config}
    )


async def test_call_fills_path_query_and_body_under_base_url(fake_agent):
    tool = http_tool(fake_agent, method="POST", headers={"X-Team": "ops"})
    output = await tool_call(
        tool, {"path": "orders/7", "query": {"expand": "lines"}, "body": {"task": "check"}}
    )
    assert output["status_code"] == 200
    assert output["body"]["received"] == {"task": "check"}
    [request] = fake_agent.requests
    assert (request.method, request.path, request.query) == (
        "POST",
        "/api/v1/orders/7",
        {"expand": ["lines"]},
    )
    assert request.headers["authorization"] == f"Bearer {fake_agent.token}"
    assert request.headers["x-team"] == "ops"


async def test_get_without_path_calls_the_base_url(fake_agent):
    output = await tool_call(http_tool(fake_agent), {})
    assert output == {"status_code": 200, "body": {"status": "ok"}}
    assert fake_agent.requests[0].path == "/api/v1"


@pytest.mark.parametrize(
    "path",
    [
        "../admin",
        "a/../../admin",
        "%2e%2e/admin",
        "%252e%252e/admin",
        "..%2fadmin",
        "http://evil.example/x",
        "//evil.example/x",
        "https:evil",
        "\\\\evil.example\\x",
        "./x",
    ],
)
async def test_path_escapes_are_refused_before_sending(fake_agent, path):
    with pytest.raises(ToolError, match="leaves the tool's base URL"):
        await tool_call(http_tool(fake_agent), {"path": path})
    assert fake_agent.requests == []


def test_tool_url_joins_under_base():
    assert tool_url("https://api.example.com/v1/", "/users/3") == "https://api.example.com/v1/users/3"
    assert tool_url("https://api.example.com/v1", "users") == "https://api.example.com/v1/users"
    assert tool_url("https://api.example.com/v1", "search?q=a b") == "https://api.example.com/v1/search?q=a b"


async def test_redirect_out_of_base_url_is_refused_before_it_is_followed(fake_agent):
    fake_agent.script(redirect_reply(f"{fake_agent.base_url}/internal/secrets"))
    with pytest.raises(
        ToolError, match="redirected outside the tool's base URL; the redirect was not followed"
    ):
        await tool_call(http_tool(fake_agent), {"path": "moved"})
    assert [r.path for r in fake_agent.requests] == ["/api/v1/moved"]


async def test_redirect_under_base_url_is_followed_with_the_token(fake_agent):
    fake_agent.script(redirect_reply(f"{fake_agent.base_url}/api/v1/new"), json_reply({"moved": True}))
    output = await tool_call(http_tool(fake_agent), {"path": "old"})
    assert output == {"status_code": 200, "body": {"moved": True}}
    assert [r.path for r in fake_agent.requests] == ["/api/v1/old", "/api/v1/new"]
    assert fake_agent.requests[1].headers["authorization"] == f"Bearer {fake_agent.token}"


async def test_body_with_get_is_refused(fake_agent):
    with pytest.raises(ToolError, match="carry no body"):
        await tool_call(http_tool(fake_agent), {"body": {"a": 1}})
    assert fake_agent.requests == []


async def test_nested_query_is_refused(fake_agent):
    with pytest.raises(ToolError, match="plain values"):
        await tool_call(http_tool(fake_agent), {"query": {"a": {"b": 1}}})


@pytest.mark.parametrize("status", [404, 500])
async def test_error_status_fails_with_snippet(fake_agent, status):
    fake_agent.script(text_reply("order not found", status=status))
    with pytest.raises(ToolError, match=f"HTTP {status}: order not found"):
        await tool_call(http_tool(fake_agent), {"path": "orders/9"})


async def test_text_answer_comes_back_as_text(fake_agent):
    fake_agent.script(text_reply("<html>hi</html>", content_type="text/html"))
    output = await tool_call(http_tool(fake_agent), {})
    assert output == {"status_code": 200, "body": "<html>hi</html>"}


async def test_timeout(fake_agent):
    fake_agent.script(hang_reply())
    with pytest.raises(DomainError, match="within 1s"):
        await tool_call(http_tool(fake_agent, timeout=1), {})


async def test_connection_refused():
    tool = factories.tool(config={"base_url": f"http://127.0.0.1:{free_port()}", "timeout": 2})
    with pytest.raises(DomainError, match="connection refused"):
        await tool_call(tool, {})


async def test_echoed_secret_is_masked_and_not_logged(fake_agent, caplog):
    caplog.set_level(logging.DEBUG)
    fake_agent.script(json_reply({"echo": fake_agent.token}))
    output = await tool_call(http_tool(fake_agent), {})
    assert fake_agent.token not in str(output)
    assert fake_agent.token not in caplog.text


async def test_probe_reports_status(fake_agent):
    result = await tool_probe(http_tool(fake_agent))
    assert result.ok
    assert result.detail == {"result": {"status_code": 200}}


async def test_probe_fails_when_credentials_are_refused(fake_agent):
    tool = factories.tool(config={"base_url": fake_agent.base_url, "auth_token": "not-the-token"})
    result = await tool_probe(tool)
    assert not result.ok
    assert "HTTP 401" in result.error


# --- the API ---------------------------------------------------------------------------------------


@pytest.fixture
def saved_tool(db, fake_agent):
    return factories.tool(
        save=True,
        name="orders",
        config={"base_url": f"{fake_agent.base_url}/api", "auth_token": fake_agent.token, "method": "POST"},
    )


def test_api_test_with_arguments_calls_the_tool(staff_client, saved_tool, fake_agent):
    response = staff_client.post(
        "/api/tools/orders/test", {"arguments": {"path": "x", "body": {"task": "t"}}}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert body["result"]["body"]["received"] == {"task": "t"}
    assert fake_agent.token not in response.content.decode()


def test_api_test_without_arguments_probes(staff_client, saved_tool):
    body = staff_client.post("/api/tools/orders/test", {}, format="json").json()
    assert body["ok"] is True
    assert body["result"] == {"status_code": 200}


def test_api_test_with_escaping_path_is_ok_false(staff_client, saved_tool, fake_agent):
    body = staff_client.post("/api/tools/orders/test", {"arguments": {"path": "../x"}}, format="json").json()
    assert body["ok"] is False
    assert "leaves the tool's base URL" in body["error"]
    assert fake_agent.requests == []


@pytest.mark.parametrize("arguments", [{"path": 5}, ["x"], "text"])
def test_api_test_with_invalid_arguments_is_400(staff_client, saved_tool, fake_agent, arguments):
    response = staff_client.post("/api/tools/orders/test", {"arguments": arguments}, format="json")
    assert response.status_code == 400
    assert "arguments" in response.json()["error"]["fields"]
    assert fake_agent.requests == []


def test_api_test_is_staff_only(user_client, saved_tool, fake_agent):
    assert user_client.post("/api/tools/orders/test", {}, format="json").status_code == 403
    assert fake_agent.requests == []
