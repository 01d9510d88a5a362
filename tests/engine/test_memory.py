"""Memory: the context keeps the system prompt and the latest turns within the token budget; older turns
are folded into a running summary made by the LLM, and the run says so with `context_trimmed`."""

import pytest
from asgiref.sync import sync_to_async

from tests.engine.support import assert_well_numbered, run_until_done, start
from tests.fakes.openai_server import error, text
from threads import selectors, services
from threads.models import Message, ThreadSummary

pytestmark = pytest.mark.django_db(transaction=True)


def earlier_turns(thread, count: int) -> list[Message]:
    messages = []
    for n in range(1, count + 1):
        messages.append(
            services.message_create(thread=thread, role="user", content=f"question {n}: " + "q" * 200)
        )
        messages.append(
            services.message_create(thread=thread, role="assistant", content=f"answer {n}: " + "a" * 200)
        )
    return messages


@pytest.fixture
def small_budget(settings):
    settings.MEMORY_CONTEXT_TOKENS = 300


async def test_older_turns_are_summarised_and_the_latest_kept_within_the_budget(
    llm, thread, fake_openai, small_budget
):
    stored = await sync_to_async(earlier_turns)(thread, 4)
    fake_openai.script(text("SUMMARY: the user asked questions 1 to 3."), text("Here is my answer."))

    run = await start(thread, "question 5")
    events = await run_until_done(run)

    assert_well_numbered(events)
    trimmed = next(event for event in events if event["type"] == "context_trimmed")
    assert trimmed["dropped_messages"] == 6
    assert trimmed["kept_messages"] == 3
    assert trimmed["summarized"] is True
    assert trimmed["budget_tokens"] == 300
    assert trimmed["estimated_tokens"] <= 300

    summary_request, answer_request = (request.body for request in fake_openai.chat_requests)
    assert "stream" not in summary_request or summary_request["stream"] is False
    transcript = summary_request["messages"][-1]["content"]
    assert "question 1" in transcript
    assert "answer 3" in transcript
    assert "question 4" not in transcript

    sent = answer_request["messages"]
    assert sent[0]["role"] == "system"
    assert sent[1] == {
        "role": "system",
        "content": "Summary of the earlier conversation:\nSUMMARY: the user asked questions 1 to 3.",
    }
    assert [m["content"][:10] for m in sent[2:]] == ["question 4", "answer 4: ", "question 5"]

    summary = await ThreadSummary.objects.aget(thread=thread)
    assert summary.content == "SUMMARY: the user asked questions 1 to 3."
    assert summary.covers_until == stored[5].created_at
    # The summary's tokens are part of what the run cost.
    assert events[-1]["usage"]["prompt_tokens"] > 0
    assert events[-1]["usage"]["prompt_tokens"] >= sum(
        len(m["content"].split()) for m in summary_request["messages"]
    )

    context = await sync_to_async(selectors.memory_context)(user=thread.owner, user_id="customer-42")
    assert context["thread_id"] == thread.id
    assert context["messages"][1]["content"].endswith("SUMMARY: the user asked questions 1 to 3.")
    assert context["messages"][-1] == {"role": "assistant", "content": "Here is my answer."}
    assert all("question 1:" not in m["content"] for m in context["messages"])


async def test_the_next_trim_folds_the_old_summary_into_the_new_one(llm, thread, fake_openai, small_budget):
    await sync_to_async(earlier_turns)(thread, 4)
    fake_openai.script(
        text("FIRST SUMMARY"),
        text("answer five"),
        text("SECOND SUMMARY"),
        text("answer six"),
    )

    await run_until_done(await start(thread, "question 5: " + "q" * 200))
    events = await run_until_done(await start(thread, "question 6: " + "q" * 600))

    assert any(event["type"] == "context_trimmed" for event in events)
    second_summary_request = fake_openai.chat_requests[2].body
    assert "Summary so far:\nFIRST SUMMARY" in second_summary_request["messages"][-1]["content"]
    assert (await ThreadSummary.objects.aget(thread=thread)).content == "SECOND SUMMARY"
    sent = fake_openai.chat_requests[3].body["messages"]
    assert sent[1]["content"].endswith("SECOND SUMMARY")


async def test_a_failed_summary_keeps_the_run_going_without_the_old_turns(
    llm, thread, fake_openai, small_budget
):
    await sync_to_async(earlier_turns)(thread, 4)
    fake_openai.script(error(500), text("answer anyway"))

    events = await run_until_done(await start(thread, "question 5"))

    assert events[-1]["type"] == "run.completed"
    trimmed = next(event for event in events if event["type"] == "context_trimmed")
    assert trimmed["summarized"] is False
    assert not await ThreadSummary.objects.filter(thread=thread).aexists()
    sent = fake_openai.chat_requests[1].body["messages"]
    assert all("question 1:" not in (m["content"] or "") for m in sent)


async def test_within_the_budget_nothing_is_trimmed(llm, thread, fake_openai):
    await sync_to_async(earlier_turns)(thread, 2)
    fake_openai.script(text("short answer"))

    events = await run_until_done(await start(thread, "question 3"))

    assert "context_trimmed" not in [event["type"] for event in events]
    assert len(fake_openai.chat_requests) == 1
    assert len(fake_openai.chat_requests[0].body["messages"]) == 6


def test_memory_history_stats_summary_and_clear(llm, thread, user, other_user):
    earlier_turns(thread, 2)
    ThreadSummary.objects.create(thread=thread, content="they talked", covers_until=thread.created_at)
    foreign = services.thread_create(owner=other_user, user_id="customer-42")
    services.message_create(thread=foreign, role="user", content="not alice's")

    history = selectors.memory_history(user=user, user_id="customer-42", limit=3)
    assert [m["content"][:8] for m in history["messages"]] == ["answer 1", "question", "answer 2"]
    assert all(m["thread_id"] == thread.id for m in history["messages"])

    stats = selectors.memory_stats(user=user, user_id="customer-42")
    assert stats["message_count"] == 4
    assert stats["thread_count"] == 1
    assert stats["total_tokens"] > 200
    assert stats["first_at"] <= stats["last_at"]

    summaries = selectors.memory_summary(user=user, user_id="customer-42")["summaries"]
    assert [s["summary"] for s in summaries] == ["they talked"]

    assert services.memory_clear(owner=user, user_id="customer-42", staff=False) == 4
    assert not Message.objects.filter(thread=thread).exists()
    assert not ThreadSummary.objects.filter(thread=thread).exists()
    assert Message.objects.filter(thread=foreign).count() == 1


def test_message_create_refuses_bad_input(thread):
    from orchestrator_studio.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as raised:
        services.message_create(thread=thread, role="tool", content="")
    assert set(raised.value.fields) == {"role", "content"}
    assert not Message.objects.exists()
