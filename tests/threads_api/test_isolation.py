"""A user never reaches another user's threads, runs or memory: 404 for ids, empty for lists and memory.
Staff see everything."""

import pytest

from tests.fakes.openai_server import text
from tests.threads_api.conftest import async_client, initiate, wait_run_ended
from threads.models import Message, Run, Thread

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def alices_run(alice, llm, fake_openai):
    fake_openai.script(text("Alice's private answer."))
    thread_id = await initiate(alice, user_id="cust-a", title="Private")
    response = await alice.post(
        f"/api/agent/{thread_id}/execute",
        {"task": "Alice's secret question"},
        content_type="application/json",
    )
    run_id = response.json()["run_id"]
    await wait_run_ended(run_id)
    return thread_id, run_id


async def test_ids_of_another_user_are_404(bob, alices_run):
    thread_id, run_id = alices_run
    json = "application/json"
    calls = [
        ("get", f"/api/threads/{thread_id}/", {}),
        ("patch", f"/api/threads/{thread_id}/", {"data": {"title": "mine now"}, "content_type": json}),
        ("delete", f"/api/threads/{thread_id}/", {}),
        ("get", f"/api/threads/{thread_id}/runs/", {}),
        ("get", f"/api/runs/{run_id}/", {}),
        ("post", f"/api/runs/{run_id}/cancel", {}),
        ("post", f"/api/agent/{thread_id}/execute", {"data": {"task": "hi"}, "content_type": json}),
        ("get", f"/api/agent/{thread_id}/stream", {}),
        ("get", f"/api/agent/{thread_id}/stream?run_id={run_id}", {}),
        ("post", "/v1/chat", {"data": {"prompt": "hi", "thread_id": thread_id}, "content_type": json}),
    ]
    for method, path, kwargs in calls:
        response = await getattr(bob, method)(path, **kwargs)
        assert response.status_code == 404, (method, path)
        assert response.json()["error"]["code"] == "not_found"
        assert "Alice" not in response.content.decode()

    assert (await bob.get("/api/threads/")).json()["count"] == 0
    thread = await Thread.objects.aget(pk=thread_id)
    assert (thread.title, thread.status) == ("Private", "active")
    assert await Run.objects.filter(thread_id=thread_id).acount() == 1


async def test_stream_of_own_thread_with_another_users_run_is_404(alice, bob, alices_run):
    _, run_id = alices_run
    bobs_thread = await initiate(bob)
    response = await bob.get(f"/api/agent/{bobs_thread}/stream?run_id={run_id}")
    assert response.status_code == 404


async def test_memory_of_another_user_is_empty_and_untouchable(alice, bob, alices_run):
    thread_id, _ = alices_run
    assert (await bob.get("/api/memory/cust-a/history")).json()["messages"] == []
    assert (await bob.get("/api/memory/cust-a/context")).json()["messages"] == []
    assert (await bob.get("/api/memory/cust-a/summary")).json()["summaries"] == []
    stats = (await bob.get("/api/memory/cust-a/stats")).json()
    assert (stats["message_count"], stats["thread_count"]) == (0, 0)
    health = (await bob.get("/api/memory/health")).json()
    assert (health["message_count"], health["thread_count"]) == (0, 0)

    assert (await bob.delete("/api/memory/cust-a")).status_code == 204
    assert await Message.objects.filter(thread_id=thread_id).acount() == 2

    into_alices = await bob.post(
        "/api/memory/cust-a/message",
        {"role": "user", "content": "injected", "thread_id": thread_id},
        content_type="application/json",
    )
    assert into_alices.status_code == 404
    own = await bob.post(
        "/api/memory/cust-a/message", {"role": "user", "content": "mine"}, content_type="application/json"
    )
    assert own.status_code == 201
    assert own.json()["thread_id"] != thread_id
    assert [m["content"] for m in (await alice.get("/api/memory/cust-a/history")).json()["messages"]] == [
        "Alice's secret question",
        "Alice's private answer.",
    ]


async def test_staff_see_everything(staff_client, alices_run):
    thread_id, run_id = alices_run
    staff = async_client(staff_client)
    assert (await staff.get(f"/api/threads/{thread_id}/")).status_code == 200
    assert (await staff.get(f"/api/runs/{run_id}/")).json()["status"] == "completed"
    assert (await staff.get("/api/threads/")).json()["count"] == 1
    history = (await staff.get("/api/memory/cust-a/history")).json()["messages"]
    assert len(history) == 2
