"""Threads and runs over REST: initiate, list, detail with messages, update, delete, runs, run detail
(events, tool calls, usage, error), cancel, and input validation."""

import pytest
from django.test import AsyncClient

from registry.models import ExternalAgent
from tests.fakes.openai_server import error, hang, text, tool_call
from tests.threads_api.conftest import async_client, execute, initiate, run_count, wait_run_ended
from threads.models import Message, Thread

pytestmark = pytest.mark.django_db(transaction=True)


async def test_initiate_shape_and_defaults(alice):
    response = await alice.post("/api/agent/initiate", {}, content_type="application/json")
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "active"
    assert body["created_at"].endswith("Z")
    thread = await Thread.objects.aget(pk=body["thread_id"])
    assert thread.owner_id == alice.user.pk
    assert thread.user_id == "alice"

    response = await alice.post(
        "/api/agent/initiate",
        {"user_id": "customer-7", "title": "Billing", "metadata": {"plan": "pro"}},
        content_type="application/json",
    )
    thread = await Thread.objects.aget(pk=response.json()["thread_id"])
    assert (thread.user_id, thread.title, thread.metadata) == ("customer-7", "Billing", {"plan": "pro"})


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"metadata": ["not", "an", "object"]}, "metadata"),
        ({"title": "x" * 301}, "title"),
        ({"user_id": 5 * "too-long-" * 10}, "user_id"),
    ],
)
async def test_initiate_validation(alice, body, field):
    response = await alice.post("/api/agent/initiate", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert field in response.json()["error"]["fields"]
    assert not await Thread.objects.aexists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "task"),
        ({"task": ""}, "task"),
        ({"task": "   "}, "task"),
        ({"task": "x" * 100_001}, "task"),
        ({"task": 42}, "task"),
        ({"task": "hi", "use_tools": "yes"}, "use_tools"),
        ({"task": "hi", "use_memory": 1}, "use_memory"),
        ({"task": "hi", "llm_config": "no-such-config"}, "llm_config"),
        ({"task": "hi", "parameters": []}, "parameters"),
        ({"task": "hi", "context_data": "text"}, "context_data"),
    ],
)
async def test_execute_validation_changes_nothing(alice, llm, body, field):
    thread_id = await initiate(alice)
    response = await alice.post(f"/api/agent/{thread_id}/execute", body, content_type="application/json")
    assert response.status_code == 400
    error_body = response.json()["error"]
    assert error_body["code"] == "validation_error"
    assert list(error_body["fields"]) == [field]
    assert await run_count(thread_id=thread_id) == 0
    assert not await Message.objects.filter(thread_id=thread_id).aexists()


async def test_execute_longest_task_and_disabled_config(alice, llm, fake_openai):
    thread_id = await initiate(alice)
    llm.enabled = False
    await llm.asave()
    response = await execute(alice, thread_id, "hi", llm_config="fake")
    assert response.status_code == 400
    assert "disabled" in response.json()["error"]["fields"]["llm_config"][0]
    llm.enabled = True
    await llm.asave()

    fake_openai.script(text("ok"))
    response = await execute(alice, thread_id, "x" * 100_000, llm_config="fake", use_tools=False)
    assert response.status_code == 202
    await wait_run_ended(response.json()["run_id"])


async def test_execute_malformed_and_wrong_content_type(alice, llm):
    thread_id = await initiate(alice)
    url = f"/api/agent/{thread_id}/execute"
    bad_json = await alice.post(url, "{task: oops", content_type="application/json")
    assert bad_json.status_code == 400
    assert bad_json.json()["error"]["code"] == "malformed_request"
    not_object = await alice.post(url, "[1, 2]", content_type="application/json")
    assert not_object.status_code == 400
    form = await alice.post(url, "task=hi", content_type="application/x-www-form-urlencoded")
    assert form.status_code == 415
    assert form.json()["error"]["code"] == "unsupported_media_type"
    wrong_method = await alice.get(url)
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"
    assert await run_count(thread_id=thread_id) == 0


async def test_unauthenticated_calls_are_401(alice, llm):
    thread_id = await initiate(alice)
    anonymous = AsyncClient()
    for method, path in [
        ("post", "/api/agent/initiate"),
        ("post", f"/api/agent/{thread_id}/execute"),
        ("get", f"/api/agent/{thread_id}/stream"),
        ("get", "/api/threads/"),
        ("post", "/v1/chat"),
        ("get", "/v1/chat/health"),
        ("get", "/api/memory/alice/history"),
    ]:
        response = await getattr(anonymous, method)(path)
        assert response.status_code == 401, path
        assert response.json()["error"]["code"] in ("not_authenticated", "authentication_failed")
    bad = await anonymous.post(
        f"/api/agent/{thread_id}/execute",
        {"task": "x"},
        content_type="application/json",
        headers={"Authorization": "Bearer nope"},
    )
    assert bad.status_code == 401


async def test_thread_list_detail_update_delete(alice, staff_client, llm, fake_openai):
    fake_openai.script(text("Forty-two."))
    first = await initiate(alice, title="First", user_id="u-1")
    second = await initiate(alice, title="Second", user_id="u-2")
    run_id = (await execute(alice, first, "What is the answer?")).json()["run_id"]
    await wait_run_ended(run_id)

    listing = (await alice.get("/api/threads/")).json()
    assert listing["count"] == 2
    assert [t["id"] for t in listing["results"]] == [first, second]  # the run made `first` the most recent
    assert {t["thread_id"] for t in listing["results"]} == {first, second}
    filtered = (await alice.get("/api/threads/?user_id=u-2")).json()
    assert [t["id"] for t in filtered["results"]] == [second]
    by_title = (await alice.get("/api/threads/?ordering=-title")).json()
    assert [t["title"] for t in by_title["results"]] == ["Second", "First"]
    paged = (await alice.get("/api/threads/?page_size=1")).json()
    assert (paged["count"], len(paged["results"])) == (2, 1)
    assert paged["next"]

    detail = (await alice.get(f"/api/threads/{first}/")).json()
    assert [(m["role"], m["content"]) for m in detail["messages"]] == [
        ("user", "What is the answer?"),
        ("assistant", "Forty-two."),
    ]
    assert all(m["run_id"] == run_id for m in detail["messages"])

    patched = await alice.patch(
        f"/api/threads/{first}/", {"title": "Renamed", "status": "archived"}, content_type="application/json"
    )
    assert patched.status_code == 200
    assert (patched.json()["title"], patched.json()["status"]) == ("Renamed", "archived")
    assert len(patched.json()["messages"]) == 2
    bad = await alice.patch(f"/api/threads/{first}/", {"status": "gone"}, content_type="application/json")
    assert bad.status_code == 400
    assert "status" in bad.json()["error"]["fields"]
    put = await alice.put(f"/api/threads/{first}/", {"title": "x"}, content_type="application/json")
    assert put.status_code == 405

    staff = async_client(staff_client)
    assert (await staff.get("/api/threads/")).json()["count"] == 2

    assert (await alice.delete(f"/api/threads/{second}/")).status_code == 204
    assert (await alice.get(f"/api/threads/{second}/")).status_code == 404
    assert (await alice.get("/api/threads/")).json()["count"] == 1


async def test_run_detail_with_tool_calls_usage_and_runs_list(alice, llm, fake_openai, fake_agent):
    await ExternalAgent.objects.acreate(
        name="helper", url=fake_agent.base_url, auth_token=fake_agent.token, timeout_seconds=5
    )
    fake_openai.script(
        tool_call("agent__helper", {"task": "look it up"}, id="call_1"),
        text("The helper says: done."),
    )
    thread_id = await initiate(alice)
    run_id = (await execute(alice, thread_id, "Ask the helper")).json()["run_id"]
    await wait_run_ended(run_id)

    run = (await alice.get(f"/api/runs/{run_id}/")).json()
    assert (run["run_id"], run["thread_id"]) == (run_id, thread_id)
    assert run["status"] == "completed"
    assert run["error"] is None
    assert run["llm_config"] == "fake"
    assert (
        run["usage"]["total_tokens"] == run["usage"]["prompt_tokens"] + run["usage"]["completion_tokens"] > 0
    )
    assert [e["seq"] for e in run["events"]] == list(range(1, len(run["events"]) + 1))
    assert run["events"][-1]["type"] == "run.completed"
    [call] = run["tool_calls"]
    assert call["tool_call_id"] == "call_1"
    assert call["name"] == "agent__helper"
    assert call["kind"] == "agent"
    assert call["arguments"] == {"task": "look it up"}
    assert call["ok"] is True
    assert "done: look it up" in str(call["output"])
    assert fake_agent.requests[-1].json()["context"]["run_id"] == run_id

    runs = (await alice.get(f"/api/threads/{thread_id}/runs/")).json()
    assert runs["count"] == 1
    assert runs["results"][0]["run_id"] == run_id
    assert "events" not in runs["results"][0]


async def test_failed_run_shows_its_error(alice, llm, fake_openai):
    fake_openai.script(error(500))
    thread_id = await initiate(alice)
    run_id = (await execute(alice, thread_id)).json()["run_id"]
    await wait_run_ended(run_id)
    run = (await alice.get(f"/api/runs/{run_id}/")).json()
    assert run["status"] == "failed"
    assert set(run["error"]) >= {"code", "message"}
    assert run["events"][-1]["type"] == "run.failed"
    assert run["events"][-1]["error"] == run["error"]
    assert "sk-" not in str(run)


async def test_cancel_over_rest(alice, llm, fake_openai):
    fake_openai.script(hang())
    thread_id = await initiate(alice)
    run_id = (await execute(alice, thread_id)).json()["run_id"]
    response = await alice.post(f"/api/runs/{run_id}/cancel")
    assert response.status_code == 202
    assert response.json()["run_id"] == run_id
    run = await wait_run_ended(run_id, timeout=5)
    assert run.status == "cancelled"
    detail = (await alice.get(f"/api/runs/{run_id}/")).json()
    assert detail["events"][-1]["type"] == "run.cancelled"
    # Cancelling a finished run changes nothing.
    again = await alice.post(f"/api/runs/{run_id}/cancel")
    assert again.status_code == 202
    assert again.json()["status"] == "cancelled"
    assert (await alice.get(f"/api/runs/{run_id}/")).json()["events"] == detail["events"]


async def test_unknown_ids_are_404(alice):
    missing = "6f1c2a5e-0000-4000-8000-000000000000"
    for method, path in [
        ("get", f"/api/threads/{missing}/"),
        ("get", f"/api/threads/{missing}/runs/"),
        ("get", f"/api/runs/{missing}/"),
        ("post", f"/api/runs/{missing}/cancel"),
        ("post", f"/api/agent/{missing}/execute"),
        ("get", f"/api/agent/{missing}/stream"),
        ("get", "/api/threads/not-a-uuid/"),
        ("get", "/api/agent/not-a-uuid/stream"),
    ]:
        response = await getattr(alice, method)(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"
    thread_id = await initiate(alice)
    no_run = await alice.get(f"/api/agent/{thread_id}/stream")
    assert no_run.status_code == 404
    assert "no run" in no_run.json()["error"]["message"]
    bad_resume = await alice.get(f"/api/agent/{thread_id}/stream?last_id=-3")
    assert bad_resume.status_code == 400
