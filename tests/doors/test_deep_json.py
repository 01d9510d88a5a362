"""Deeply nested JSON to the OpenAI-compatible door is a 400 in OpenAI's shape, never a 500."""

import httpx
import pytest

from threads.models import Thread

pytestmark = pytest.mark.django_db(transaction=True)


def test_deeply_nested_json_to_chat_completions_is_a_400(server, user_client, llm):
    response = httpx.post(
        f"{server}/v1/chat/completions",
        content=("[" * 10_000 + "]" * 10_000).encode(),
        headers={"Authorization": f"Bearer {user_client.raw_token}", "Content-Type": "application/json"},
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_request"
    assert "nested deeper than 64 levels" in response.json()["error"]["message"]
    assert Thread.objects.count() == 0
