import asyncio
import json
import time

import pytest
from django.db import connections
from django.test import override_settings

from monitoring import probes
from registry.models import LLMConfig
from tests.fakes.server import free_port

LLM_KEY = "sk-health-test-key-0123456789"


def default_llm(base_url: str, **fields) -> LLMConfig:
    LLMConfig.objects.filter(is_default=True).update(is_default=False)
    return LLMConfig.objects.create(
        name=fields.pop("name", "main"),
        model="gpt-4o",
        base_url=base_url,
        api_key=LLM_KEY,
        is_default=True,
        **fields,
    )


def get_health(client) -> dict:
    response = client.get("/api/monitoring/health")
    assert response.status_code == 200
    return response.json()


def test_all_components_up(staff_client, fake_llm):
    base_url, _ = fake_llm
    default_llm(base_url)

    response = staff_client.get("/api/monitoring/health")
    body = response.json()

    assert body["status"] == "ok"
    assert set(body["components"]) == {"database", "channel_layer", "cache", "llm"}
    for component in body["components"].values():
        assert component["ok"] is True
        assert component["latency_ms"] >= 0
        assert "error" not in component
    assert body["components"]["llm"]["name"] == "main"
    assert body["components"]["database"]["backend"] in {"sqlite", "postgresql"}
    assert LLM_KEY not in response.content.decode()
    assert "://" not in response.content.decode()


def test_llm_down_degrades(staff_client, dead_url):
    default_llm(f"{dead_url}/v1")

    body = get_health(staff_client)

    assert body["status"] == "degraded"
    llm = body["components"]["llm"]
    assert llm["ok"] is False
    assert llm["error"]
    assert LLM_KEY not in json.dumps(body)
    assert body["components"]["database"]["ok"] is True


def test_database_down_is_down(staff_client, fake_llm, monkeypatch):
    base_url, _ = fake_llm
    default_llm(base_url)
    # Only new connections see this: the test's own connection (and its transaction) stays open.
    settings_dict = connections["default"].settings_dict
    if connections["default"].vendor == "sqlite":
        monkeypatch.setitem(settings_dict, "NAME", "/nonexistent-directory/monitoring.sqlite3")
    else:
        monkeypatch.setitem(settings_dict, "HOST", "127.0.0.1")
        monkeypatch.setitem(settings_dict, "PORT", str(free_port()))

    body = get_health(staff_client)

    assert body["status"] == "down"
    database = body["components"]["database"]
    assert database["ok"] is False
    assert database["error"]
    assert body["components"]["llm"]["ok"] is True


def test_llm_probe_is_cached(staff_client, fake_llm):
    base_url, server = fake_llm
    default_llm(base_url)

    first = get_health(staff_client)["components"]["llm"]
    probes_made = len(server.requests)
    second = get_health(staff_client)["components"]["llm"]

    assert probes_made >= 1
    assert len(server.requests) == probes_made
    assert second == first


def test_llm_probe_cache_expires(staff_client, fake_llm):
    base_url, server = fake_llm
    default_llm(base_url)

    with override_settings(HEALTH_CACHE_SECONDS=1):
        get_health(staff_client)
        probes_made = len(server.requests)
        time.sleep(1.1)
        get_health(staff_client)

    assert len(server.requests) > probes_made


def test_editing_the_llm_config_drops_its_cached_probe(staff_client, fake_llm, dead_url):
    base_url, _ = fake_llm
    config = default_llm(base_url)
    assert get_health(staff_client)["components"]["llm"]["ok"] is True

    config.base_url = f"{dead_url}/v1"
    config.save()

    assert get_health(staff_client)["components"]["llm"]["ok"] is False


@pytest.mark.django_db(transaction=True)
async def test_health_never_blocks_the_event_loop(hanging_agent_url):
    # An LLM that never answers: the probe waits for its timeout while the loop keeps serving.
    await LLMConfig.objects.acreate(
        name="slow", base_url=f"{hanging_agent_url}/v1", api_key=LLM_KEY, is_default=True, timeout_seconds=1.0
    )
    gaps: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    started = time.perf_counter()
    report = await probes.health()
    elapsed = time.perf_counter() - started
    stop.set()
    await ticking

    assert report["components"]["llm"]["ok"] is False
    assert elapsed >= 0.9
    assert len(gaps) > 20
    assert max(gaps) < 0.5
