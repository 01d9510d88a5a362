"""/api/memory/*: a user's conversation across threads, as stored and as sent to the LLM."""

from datetime import timedelta

import pytest
from django.utils import timezone

from threads import services
from threads.models import Message, ThreadSummary


@pytest.fixture
def conversation(user):
    """Two threads of end user `cust-1`, owned by alice, with two turns."""
    first = services.thread_create(owner=user, user_id="cust-1", title="Orders")
    second = services.thread_create(owner=user, user_id="cust-1", title="Returns")
    services.message_create(thread=first, role="user", content="Where is order 17?")
    services.message_create(thread=first, role="assistant", content="It ships tomorrow.")
    services.message_create(thread=second, role="user", content="How do I return it?")
    services.message_create(thread=second, role="assistant", content="Use the return form.")
    return first, second


def test_history(user_client, conversation):
    first, second = conversation
    body = user_client.get("/api/memory/cust-1/history").json()
    assert body["user_id"] == "cust-1"
    assert [(m["role"], m["content"]) for m in body["messages"]] == [
        ("user", "Where is order 17?"),
        ("assistant", "It ships tomorrow."),
        ("user", "How do I return it?"),
        ("assistant", "Use the return form."),
    ]
    assert [m["thread_id"] for m in body["messages"]] == [str(first.id)] * 2 + [str(second.id)] * 2
    assert all(m["created_at"].endswith("Z") for m in body["messages"])

    latest = user_client.get("/api/memory/cust-1/history?limit=1").json()["messages"]
    assert [m["content"] for m in latest] == ["Use the return form."]
    for bad in ("0", "abc", "1001"):
        response = user_client.get(f"/api/memory/cust-1/history?limit={bad}")
        assert response.status_code == 400
        assert "limit" in response.json()["error"]["fields"]


def test_context_is_what_the_llm_gets(user_client, conversation, settings):
    body = user_client.get("/api/memory/cust-1/context").json()
    _, latest_thread = conversation
    assert body["thread_id"] == str(latest_thread.id)
    assert body["messages"][0]["role"] == "system"
    assert body["messages"][1:] == [
        {"role": "user", "content": "How do I return it?"},
        {"role": "assistant", "content": "Use the return form."},
    ]
    assert body["budget_tokens"] == settings.MEMORY_CONTEXT_TOKENS
    assert body["estimated_tokens"] > 0
    assert body["trimmed"] is False

    empty = user_client.get("/api/memory/nobody/context").json()
    assert (empty["messages"], empty["thread_id"]) == ([], None)


def test_summary(user_client, conversation):
    first, _ = conversation
    ThreadSummary.objects.create(
        thread=first,
        content="The user asked about order 17.",
        covers_until=timezone.now() - timedelta(minutes=1),
    )
    body = user_client.get("/api/memory/cust-1/summary").json()
    assert body["user_id"] == "cust-1"
    [summary] = body["summaries"]
    assert summary["thread_id"] == str(first.id)
    assert summary["title"] == "Orders"
    assert summary["summary"] == "The user asked about order 17."


def test_stats(user_client, conversation):
    body = user_client.get("/api/memory/cust-1/stats").json()
    assert body["message_count"] == 4
    assert body["thread_count"] == 2
    assert body["total_tokens"] > 0
    assert body["first_at"] <= body["last_at"]
    empty = user_client.get("/api/memory/nobody/stats").json()
    assert (empty["message_count"], empty["thread_count"], empty["first_at"]) == (0, 0, None)


def test_clear(user_client, conversation):
    response = user_client.delete("/api/memory/cust-1")
    assert response.status_code == 204
    assert not Message.objects.filter(thread__user_id="cust-1").exists()
    assert user_client.get("/api/memory/cust-1/history").json()["messages"] == []


def test_add_message(user_client, conversation):
    first, second = conversation
    response = user_client.post(
        "/api/memory/cust-1/message", {"role": "user", "content": "I prefer email."}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["role"], body["content"]) == ("user", "I prefer email.")
    assert body["thread_id"] in (str(first.id), str(second.id))

    into_first = user_client.post(
        "/api/memory/cust-1/message",
        {"role": "assistant", "content": "Noted.", "thread_id": str(first.id)},
        format="json",
    )
    assert into_first.json()["thread_id"] == str(first.id)

    # A user without any thread gets one.
    fresh = user_client.post("/api/memory/new-user/message", {"role": "user", "content": "Hi"}, format="json")
    assert fresh.status_code == 201
    history = user_client.get("/api/memory/new-user/history").json()["messages"]
    assert [m["content"] for m in history] == ["Hi"]

    for bad, field in [
        ({"role": "tool", "content": "x"}, "role"),
        ({"role": "user", "content": ""}, "content"),
        ({"role": "user", "content": "x", "thread_id": "nope"}, "thread_id"),
    ]:
        response = user_client.post("/api/memory/cust-1/message", bad, format="json")
        assert response.status_code == 400
        assert field in response.json()["error"]["fields"]
    # A thread of another end user is not this user's memory.
    response = user_client.post(
        "/api/memory/new-user/message",
        {"role": "user", "content": "x", "thread_id": str(first.id)},
        format="json",
    )
    assert response.status_code == 404


def test_config_and_health(user_client, conversation, settings):
    config = user_client.get("/api/memory/config").json()
    assert config["context_tokens"] == settings.MEMORY_CONTEXT_TOKENS
    assert config["summarize_older_turns"] is True
    health = user_client.get("/api/memory/health").json()
    assert health["status"] == "ok"
    assert (health["thread_count"], health["message_count"]) == (2, 4)


def test_memory_needs_a_token(anon_client):
    assert anon_client.get("/api/memory/cust-1/history").status_code == 401
    assert anon_client.delete("/api/memory/cust-1").status_code == 401
