"""External agents: probe, call and health against a real agent on loopback, and every way it can fail."""

import logging

import pytest

from registry.connectors.agents import agent_call, agent_probe
from tests.connectors import factories
from tests.fakes.scripted_reply import Reply, hang_reply, json_reply, malformed_reply, text_reply
from tests.fakes.server import free_port


@pytest.fixture
def live_agent(fake_agent):
    return factories.agent(url=fake_agent.base_url, auth_token=fake_agent.token, timeout_seconds=2)


async def test_probe_gets_health_path_with_token(fake_agent, live_agent):
    result = await agent_probe(live_agent)
    assert result.ok
    assert result.detail == {"status_code": 200}
    [request] = fake_agent.requests
    assert (request.method, request.path) == ("GET", "/health")
    assert request.headers["authorization"] == f"Bearer {fake_agent.token}"


async def test_probe_fails_on_error_status(fake_agent, live_agent):
    fake_agent.script(json_reply({"status": "down"}, status=503))
    result = await agent_probe(live_agent)
    assert not result.ok
    assert result.detail == {"status_code": 503}
    assert "HTTP 503" in result.error


async def test_probe_with_wrong_token_fails(fake_agent):
    result = await agent_probe(factories.agent(url=fake_agent.base_url, auth_token="wrong-token-123"))
    assert not result.ok
    assert "HTTP 401" in result.error


async def test_probe_of_nothing_listening_says_connection_refused():
    result = await agent_probe(factories.agent(url=f"http://127.0.0.1:{free_port()}"))
    assert not result.ok
    assert "connection refused" in result.error


async def test_probe_of_hanging_agent_times_out(fake_agent):
    fake_agent.script(hang_reply())
    result = await agent_probe(
        factories.agent(url=fake_agent.base_url, auth_token=fake_agent.token, timeout_seconds=1)
    )
    assert not result.ok
    assert "within 1s" in result.error


async def test_call_posts_payload_and_returns_json(fake_agent, live_agent):
    result = await agent_call(live_agent, {"task": "refund order 7", "priority": 2})
    assert result.ok
    assert result.status_code == 200
    assert result.response == {
        "result": "done: refund order 7",
        "received": {"task": "refund order 7", "priority": 2},
    }
    [request] = fake_agent.requests
    assert (request.method, request.path) == ("POST", "/execute")
    assert request.headers["authorization"] == f"Bearer {fake_agent.token}"


async def test_call_to_relative_endpoint(fake_agent, live_agent):
    result = await agent_call(live_agent, {"task": "x"}, endpoint="/v2/run")
    assert result.ok
    assert fake_agent.requests[0].path == "/v2/run"


async def test_call_returns_text_when_agent_answers_text(fake_agent, live_agent):
    fake_agent.script(text_reply("plain answer"))
    result = await agent_call(live_agent, {"task": "x"})
    assert result.ok
    assert result.response == "plain answer"


async def test_call_caps_large_text(fake_agent, live_agent):
    fake_agent.script(text_reply("y" * 200_000))
    result = await agent_call(live_agent, {"task": "x"})
    assert result.ok
    assert len(result.response) < 70_000
    assert result.response.endswith("[... cut short]")


async def test_call_with_malformed_json_is_a_clear_failure(fake_agent, live_agent):
    fake_agent.script(malformed_reply())
    result = await agent_call(live_agent, {"task": "x"})
    assert not result.ok
    assert result.status_code == 200
    assert "malformed JSON" in result.error


@pytest.mark.parametrize("status", [400, 404, 500, 502])
async def test_call_with_error_status_fails_with_the_answer(fake_agent, live_agent, status):
    fake_agent.script(json_reply({"detail": "no such order"}, status=status))
    result = await agent_call(live_agent, {"task": "x"})
    assert not result.ok
    assert result.status_code == status
    assert f"HTTP {status}" in result.error
    assert result.response == {"detail": "no such order"}


async def test_call_timeout(fake_agent):
    fake_agent.script(Reply(body=b"{}", delay=5))
    agent = factories.agent(url=fake_agent.base_url, auth_token=fake_agent.token, timeout_seconds=1)
    result = await agent_call(agent, {"task": "x"})
    assert not result.ok
    assert result.status_code is None
    assert "within 1s" in result.error


async def test_echoed_token_never_comes_back_and_is_not_logged(fake_agent, live_agent, caplog):
    caplog.set_level(logging.DEBUG)
    fake_agent.script(json_reply({"you_sent": f"Bearer {fake_agent.token}"}))
    result = await agent_call(live_agent, {"task": "x"})
    assert result.ok
    assert fake_agent.token not in str(result.as_dict())
    assert result.response["you_sent"].startswith("Bearer ****")
    assert fake_agent.token not in caplog.text


# --- the API ---------------------------------------------------------------------------------------


@pytest.fixture
def saved_agent(db, fake_agent):
    return factories.agent(save=True, url=fake_agent.base_url, auth_token=fake_agent.token, timeout_seconds=2)


def test_api_test_action(staff_client, saved_agent):
    response = staff_client.post("/api/agents/billing/test")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert body["status_code"] == 200
    assert body["latency_ms"] >= 0
    assert "error" not in body


def test_api_test_action_accepts_trailing_slash(staff_client, saved_agent):
    assert staff_client.post("/api/agents/billing/test/").json()["ok"] is True


def test_api_call_action(staff_client, saved_agent, fake_agent):
    response = staff_client.post("/api/agents/billing/call", {"task": "hello"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "ok": True,
        "status_code": 200,
        "latency_ms": body["latency_ms"],
        "response": {"result": "done: hello", "received": {"task": "hello"}},
    }
    assert fake_agent.token not in response.content.decode()


def test_api_call_with_endpoint(staff_client, saved_agent, fake_agent):
    response = staff_client.post("/api/agents/billing/call?endpoint=/tasks/new", {"task": "t"}, format="json")
    assert response.json()["ok"] is True
    assert fake_agent.requests[-1].path == "/tasks/new"


@pytest.mark.parametrize(
    "endpoint", ["http://evil.example/x", "//evil.example/x", "/a/../../admin", "relative", "/a//b"]
)
def test_api_call_refuses_non_relative_endpoint(staff_client, saved_agent, fake_agent, endpoint):
    response = staff_client.post(
        "/api/agents/billing/call", {"task": "t"}, format="json", QUERY_STRING=f"endpoint={endpoint}"
    )
    assert response.status_code == 400
    assert "endpoint" in response.json()["error"]["fields"]
    assert fake_agent.requests == []


def test_api_call_to_failing_agent_is_ok_false_not_500(staff_client, saved_agent, fake_agent):
    fake_agent.script(text_reply("Internal Server Error", status=500))
    response = staff_client.post("/api/agents/billing/call", {"task": "t"}, format="json")
    assert response.status_code == 200
    assert response.json()["ok"] is False
    assert response.json()["status_code"] == 500


def test_api_actions_are_staff_only(user_client, anon_client, saved_agent, fake_agent):
    assert user_client.post("/api/agents/billing/test").status_code == 403
    assert user_client.post("/api/agents/billing/call", {"task": "t"}, format="json").status_code == 403
    assert anon_client.post("/api/agents/billing/test").status_code == 401
    assert fake_agent.requests == []


def test_api_unknown_agent_is_404(staff_client, db):
    response = staff_client.post("/api/agents/nobody/test")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_health_all_checks_enabled_agents(user_client, fake_agent, db):
    factories.agent(save=True, name="up", url=fake_agent.base_url, auth_token=fake_agent.token)
    factories.agent(save=True, name="down", url=f"http://127.0.0.1:{free_port()}")
    factories.agent(save=True, name="off", url=f"http://127.0.0.1:{free_port()}", enabled=False)
    response = user_client.get("/api/agents/health/all")
    assert response.status_code == 200
    body = response.json()
    assert (body["total"], body["healthy"]) == (2, 1)
    rows = {row["name"]: row for row in body["agents"]}
    assert rows["up"]["ok"] is True
    assert "error" not in rows["up"]
    assert rows["down"]["ok"] is False
    assert "connection refused" in rows["down"]["error"]


def test_health_all_does_not_collide_with_an_agent_named_health(user_client, fake_agent, db):
    factories.agent(save=True, name="health", url=fake_agent.base_url, auth_token=fake_agent.token)
    assert user_client.get("/api/agents/health/").json()["name"] == "health"
    assert user_client.get("/api/agents/health/all").json()["total"] == 1
