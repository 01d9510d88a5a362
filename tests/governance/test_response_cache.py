"""The response cache's key, entries and the endpoint that empties it (the engine's use of it is tested
with runs, in test_runs_governed.py)."""

import copy

import pytest
from asgiref.sync import async_to_sync

from registry.connectors.llm_cache import CachedAnswer, cache_key, cache_lookup, cache_store
from tests.registry import factories

REQUEST = {
    "model": "gpt-4o",
    "temperature": 0.2,
    "messages": [{"role": "user", "content": "What is the weather in Oslo?"}],
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "tool__weather",
                "description": "Today's weather.",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ],
}
ANSWER = CachedAnswer(
    deltas=["Sunny, ", "21 C."], finish_reason="stop", usage={"prompt_tokens": 7, "completion_tokens": 3}
)


def _changed(path: str, value) -> dict:
    request = copy.deepcopy(REQUEST)
    target = request
    *parents, last = path.split(".")
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    target[last] = value
    return request


@pytest.fixture
def cached_config(db):
    return factories.llm_config_create(name="cached", cache_ttl_seconds=300)


def test_the_key_covers_everything_that_changes_the_answer(cached_config):
    key = cache_key(cached_config, REQUEST)

    assert cache_key(cached_config, copy.deepcopy(REQUEST)) == key
    assert (
        cache_key(cached_config, {**REQUEST, "stream": True, "stream_options": {"include_usage": True}})
        == key
    )
    assert cache_key(cached_config, dict(reversed(REQUEST.items()))) == key
    for changed in (
        _changed("temperature", 0.9),
        _changed("model", "gpt-4o-mini"),
        _changed("messages.0.content", "What is the weather in Bergen?"),
        _changed(
            "tools.0.function.parameters", {"type": "object", "properties": {"town": {"type": "string"}}}
        ),
        _changed("tools.0.function.description", "Tomorrow's weather."),
        {**REQUEST, "max_tokens": 10},
        {**REQUEST, "tools": []},
    ):
        assert cache_key(cached_config, changed) != key


def test_an_answer_is_served_until_the_cache_is_emptied(cached_config, staff_client, user_client):
    lookup, store = async_to_sync(cache_lookup), async_to_sync(cache_store)
    assert lookup(cached_config, REQUEST) is None
    store(cached_config, REQUEST, ANSWER)

    hit = lookup(cached_config, REQUEST)
    other = lookup(cached_config, _changed("temperature", 1.0))

    assert hit == ANSWER
    assert hit.content == "Sunny, 21 C."
    assert other is None

    refused = user_client.delete("/api/llm/configs/cached/cache")
    emptied = staff_client.delete("/api/llm/configs/cached/cache")
    missing = staff_client.delete("/api/llm/configs/nope/cache")

    assert refused.status_code == 403
    assert emptied.status_code == 204
    assert missing.status_code == 404
    assert lookup(cached_config, REQUEST) is None


def test_without_a_ttl_nothing_is_cached(db):
    config = factories.llm_config_create(name="plain")

    async_to_sync(cache_store)(config, REQUEST, ANSWER)

    assert async_to_sync(cache_lookup)(config, REQUEST) is None
