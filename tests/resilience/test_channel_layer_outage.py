"""Redis down under the channel layers: what needs them (following a run's events) answers 503
channel_layer_unavailable; the rest goes on working."""

import pytest

from tests.fakes.server import free_port

pytestmark = pytest.mark.django_db(transaction=True)


def _channel_layers_at(settings, url: str) -> None:
    host = {"address": url, "socket_connect_timeout": settings.REDIS_CONNECT_TIMEOUT_SECONDS}
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [host]}},
        "events": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer", "CONFIG": {"hosts": [host]}},
    }


def test_chat_answers_503_channel_layer_unavailable(settings, user_client, llm):
    _channel_layers_at(settings, f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    user_client.raise_request_exception = False  # answer as a server would, not re-raise in the test

    response = user_client.post("/v1/chat", {"prompt": "Hello"}, format="json")
    assert response.status_code == 503, response.content
    assert response.json()["error"]["code"] == "channel_layer_unavailable"

    assert user_client.get("/api/threads/").status_code == 200
