import time

from django.test import override_settings

from registry.models import DataSource, ExternalAgent, LLMConfig

AGENT_TOKEN = "agent-secret-token-0123456789"


def test_dead_agent_fails_without_slowing_the_others(
    staff_client, live_agent_url, hanging_agent_url, dead_url, fake_llm
):
    base_url, _ = fake_llm
    LLMConfig.objects.create(name="main", base_url=base_url, api_key="sk-conn-test-0123456789")
    ExternalAgent.objects.create(name="live", url=live_agent_url, timeout_seconds=5, auth_token=AGENT_TOKEN)
    ExternalAgent.objects.create(name="hanging", url=hanging_agent_url, timeout_seconds=1)
    ExternalAgent.objects.create(name="refused", url=dead_url, timeout_seconds=5)
    ExternalAgent.objects.create(name="disabled", url=dead_url, enabled=False)
    DataSource.objects.create(name="warehouse-api", type="http", url=dead_url, timeout_seconds=2)

    started = time.perf_counter()
    response = staff_client.get("/api/monitoring/connectivity")
    elapsed = time.perf_counter() - started

    assert response.status_code == 200
    body = response.json()
    # Probed concurrently: the slowest (1 s timeout) bounds the call, not the sum of all timeouts.
    assert elapsed < 4
    agents = {agent["name"]: agent for agent in body["agents"]}
    assert set(agents) == {"live", "hanging", "refused"}
    assert agents["live"]["ok"] is True
    assert agents["live"]["latency_ms"] < 1000
    assert agents["hanging"]["ok"] is False
    assert agents["hanging"]["error"]
    assert agents["refused"]["ok"] is False
    assert [entry["name"] for entry in body["llm_configs"]] == ["main"]
    assert body["llm_configs"][0]["ok"] is True
    assert body["datasources"][0]["name"] == "warehouse-api"
    assert body["datasources"][0]["ok"] is False
    assert body["status"] == "degraded"
    assert (body["checked"], body["failed"]) == (5, 3)
    assert AGENT_TOKEN not in response.content.decode()


@override_settings(CONNECTIVITY_TIMEOUT_SECONDS=1.0)
def test_the_whole_call_is_bounded(staff_client, hanging_agent_url):
    ExternalAgent.objects.create(name="hanging", url=hanging_agent_url, timeout_seconds=30)

    started = time.perf_counter()
    body = staff_client.get("/api/monitoring/connectivity").json()
    elapsed = time.perf_counter() - started

    assert elapsed < 4
    assert body["agents"][0]["ok"] is False
    assert body["agents"][0]["error"] == "Timed out."


def test_nothing_registered(staff_client):
    LLMConfig.objects.all().delete()
    body = staff_client.get("/api/monitoring/connectivity").json()

    assert body == {
        "status": "ok",
        "checked": 0,
        "failed": 0,
        "llm_configs": [],
        "agents": [],
        "datasources": [],
        "mcp_servers": [],
    }
