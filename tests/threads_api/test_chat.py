"""/v1/chat: the final answer once the run ends, or the run's event stream; /v1/chat/health."""

import pytest

from registry.models import ExternalAgent
from tests.fakes.openai_server import error, text, tool_call
from tests.threads_api.conftest import deltas_text, final_content, initiate, read_sse
from threads.models import Message, Thread

pytestmark = pytest.mark.django_db(transaction=True)


async def chat(client, **body):
    return await client.post("/v1/chat", body, content_type="application/json")


async def test_chat_answers_once_the_run_ended(alice, llm, fake_openai):
    fake_openai.script(text("Paris is the capital of France.", chunks=5))
    response = await chat(alice, prompt="Capital of France?", user_id="cust-1", metadata={"src": "api"})
    assert response.status_code == 200
    body = response.json()
    assert body["answer"] == "Paris is the capital of France."
    assert body["status"] == "completed"
    assert body["error"] is None
    assert body["tool_calls"] == []
    assert body["execution_id"] == body["run_id"]
    assert (
        body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    )
    thread = await Thread.objects.aget(pk=body["thread_id"])
    assert (thread.owner_id, thread.user_id, thread.metadata) == (alice.user.pk, "cust-1", {"src": "api"})

    # The same thread goes on with its memory.
    fake_openai.script(text("About 2.1 million."))
    follow_up = (await chat(alice, prompt="Its population?", thread_id=body["thread_id"])).json()
    assert follow_up["thread_id"] == body["thread_id"]
    assert follow_up["answer"] == "About 2.1 million."
    sent = fake_openai.chat_requests[-1].body["messages"]
    assert any(m.get("content") == "Paris is the capital of France." for m in sent)
    assert await Message.objects.filter(thread_id=body["thread_id"]).acount() == 4


async def test_chat_reports_tool_calls(alice, llm, fake_openai, fake_agent):
    await ExternalAgent.objects.acreate(name="helper", url=fake_agent.base_url, auth_token=fake_agent.token)
    fake_openai.script(tool_call("agent__helper", {"task": "check stock"}), text("In stock."))
    body = (await chat(alice, prompt="Is it in stock?")).json()
    assert body["answer"] == "In stock."
    [call] = body["tool_calls"]
    assert call["name"] == "agent__helper"
    assert call["arguments"] == {"task": "check stock"}
    assert call["ok"] is True
    assert "done: check stock" in str(call["output"])


async def test_chat_failed_run(alice, llm, fake_openai):
    fake_openai.script(error(503))
    response = await chat(alice, prompt="Hello?")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "failed"
    assert body["answer"] is None
    assert set(body["error"]) >= {"code", "message"}


async def test_chat_streamed(alice, llm, fake_openai):
    fake_openai.script(text("Streaming like the SSE endpoint.", chunks=6))
    response = await chat(alice, prompt="Stream it", stream=True)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/event-stream")
    frames, _ = await read_sse(response)
    events = [f["data"] for f in frames]
    assert [int(f["id"]) for f in frames] == list(range(1, len(frames) + 1))
    assert events[0]["type"] == "run.created"
    assert events[-1]["type"] == "run.completed"
    assert deltas_text(events) == final_content(events) == "Streaming like the SSE endpoint."


async def test_chat_validation_and_foreign_thread(alice, bob, llm):
    for body, field in [
        ({}, "prompt"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": "hi", "stream": "yes"}, "stream"),
        ({"prompt": "hi", "thread_id": "nope"}, "thread_id"),
        ({"prompt": "hi", "llm_config": "missing"}, "llm_config"),
        ({"prompt": "hi", "metadata": "x"}, "metadata"),
    ]:
        response = await chat(alice, **body)
        assert response.status_code == 400, body
        assert field in response.json()["error"]["fields"]
    bobs_thread = await initiate(bob)
    response = await chat(alice, prompt="hi", thread_id=bobs_thread)
    assert response.status_code == 404
    assert await Thread.objects.acount() == 1


async def test_chat_health(alice, llm):
    body = (await alice.get("/v1/chat/health")).json()
    assert body == {
        "status": "ok",
        "llm_config": "fake",
        "model": "gpt-4o",
        "llm_enabled": True,
        "executor": "inline",
    }
    assert "sk-" not in str(body)
