"""A run pauses before a call that needs approval and resumes after the decision (inline executor, this
process): the fake OpenAI server drives the turns, and the tools are HTTP servers that record their calls."""

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.test import Client

from tests.approvals.conftest import stored_events, types_of, until_status
from tests.engine.support import assert_well_numbered, listening, refreshed, run_until_done, start
from tests.fakes.openai_server import call, text, tool_calls
from tests.threads_api.conftest import async_client, execute, open_socket
from threads import executors, services
from threads.approvals import Decision, approvals_expire
from threads.models import Message, ToolCallApproval

pytestmark = pytest.mark.django_db(transaction=True)

REFUND = {"path": "/orders/7/refund", "body": {"amount": 30}}


def refund_and_lookup():
    return tool_calls(
        call("tool__refund", REFUND, id="call_refund"),
        call("tool__lookup", {"path": "/orders/7"}, id="call_lookup"),
    )


async def paused(thread, task: str = "Refund order 7"):
    """Start a run and wait until it lets go to wait for the decision."""
    run = await start(thread, task)
    await run_until_done(run)
    await until_status(run.id, "requires_action")
    return run


def admin_run_page(run_id) -> str:
    admin = get_user_model().objects.create_superuser(username="root", password="pw-root-123")
    client = Client()
    client.force_login(admin)
    return client.get(f"/admin/threads/run/{run_id}/change/").content.decode()


def llm_tool_answers(fake_openai, turn: int) -> dict[str, str]:
    messages = fake_openai.chat_requests[turn].body["messages"]
    return {m["tool_call_id"]: m["content"] for m in messages if m["role"] == "tool"}


async def test_the_free_call_runs_the_sensitive_one_waits_and_an_approval_over_rest_runs_it(
    llm, thread, fake_openai, tools, user_client
):
    refunds, lookups = tools
    fake_openai.script(refund_and_lookup(), text("Order 7 is refunded.", chunks=3))
    client = async_client(user_client)

    async with listening(thread) as listener:
        run = await paused(thread)

        # Paused: the free call ran, the sensitive one's server got nothing, and nothing holds the run.
        assert refunds.calls == []
        assert [c["path"] for c in lookups.calls] == ["/orders/7"]
        assert str(run.id) not in executors.supervisor().runs
        events = await stored_events(run.id)
        assert types_of(events) == [
            "run.created",
            "run.in_progress",
            "tool_call.started",
            "tool_call.started",
            "tool_call.approval_required",
            "tool_call.completed",
        ]
        required = events[4]
        assert required["tool_call_id"] == "call_refund"
        assert (required["name"], required["kind"], required["arguments"]) == ("tool__refund", "tool", REFUND)
        assert events[5]["tool_call_id"] == "call_lookup"
        assert events[5]["ok"] is True
        # `requires_action` is active: a second run on the thread is refused.
        assert (await execute(client, str(thread.id))).status_code == 409
        detail = (await client.get(f"/api/runs/{run.id}/")).json()
        assert detail["status"] == "requires_action"
        assert [(a["tool_call_id"], a["status"]) for a in detail["approvals"]] == [("call_refund", "pending")]

        response = await client.post(
            f"/api/runs/{run.id}/approve",
            {"decisions": [{"tool_call_id": "call_refund", "approve": True}]},
            content_type="application/json",
        )
        assert response.status_code == 202, response.content
        assert response.json() == {"run_id": str(run.id), "status": "queued", "decided": 1, "resumed": True}
        await listener.wait_terminal()
        await run_until_done(run)

    events = await stored_events(run.id)
    assert_well_numbered(events)
    assert listener.of_run(run.id) == events
    assert [kind for kind in types_of(events)[6:] if kind != "message.delta"] == [
        "tool_call.approval_decided",
        "tool_call.completed",
        "message.completed",
        "run.completed",
    ]
    assert types_of(events).count("run.in_progress") == 1
    decided, completed = events[6], events[7]
    assert decided["tool_call_id"] == "call_refund"
    assert (decided["approve"], decided["reason"]) == (True, None)
    assert (completed["tool_call_id"], completed["ok"]) == ("call_refund", True)
    assert completed["output"]["body"] == {"done": "/orders/7/refund"}
    assert refunds.calls == [{"path": "/orders/7/refund", "body": {"amount": 30}}]
    assert len(lookups.calls) == 1  # nothing ran twice
    assert set(llm_tool_answers(fake_openai, 1)) == {"call_refund", "call_lookup"}
    finished = await refreshed(run)
    assert finished.status == "completed"
    assert finished.approval_pauses == 1
    assert events[-1]["usage"]["total_tokens"] == finished.usage["total_tokens"] > 0
    assert events[-2]["content"] == "Order 7 is refunded."

    # A second decision for the same call is refused and changes nothing.
    again = await client.post(
        f"/api/runs/{run.id}/approve",
        {"decisions": [{"tool_call_id": "call_refund", "approve": False}]},
        content_type="application/json",
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "not_waiting"
    assert len(refunds.calls) == 1


async def test_a_decision_made_while_the_other_calls_still_run_lets_the_run_go_on_without_pausing(
    llm, thread, fake_openai, tools
):
    refunds, lookups = tools
    lookups.delay = 2.0
    fake_openai.script(refund_and_lookup(), text("Done without a pause."))

    async with listening(thread) as listener:
        run = await start(thread, "Refund order 7")
        while not any(e["type"] == "tool_call.approval_required" for e in listener.of_run(run.id)):
            await asyncio.sleep(0.02)
        assert (await refreshed(run)).status == "in_progress"
        applied = await services.arun_approve(
            run=run, user=thread.owner, decisions=[Decision("call_refund", approve=True, reason="fine")]
        )
        # Stored only: the executor still runs the turn, and it announces the decision itself.
        assert (applied.resumed, applied.events, applied.status) == (False, [], "in_progress")
        await listener.wait_terminal()
        await run_until_done(run)

    events = await stored_events(run.id)
    assert_well_numbered(events)
    assert listener.of_run(run.id) == events
    kinds = types_of(events)
    assert kinds.index("tool_call.approval_decided") > kinds.index("tool_call.approval_required")
    decided = events[kinds.index("tool_call.approval_decided")]
    assert (decided["approve"], decided["reason"]) == (True, "fine")
    finished = await refreshed(run)
    assert (finished.status, finished.approval_pauses) == ("completed", 0)
    assert len(refunds.calls) == len(lookups.calls) == 1


async def test_a_rejection_over_the_websocket_never_calls_the_tool_and_the_llm_is_told(
    llm, thread, fake_openai, tools, user_client
):
    refunds, _ = tools
    fake_openai.script(refund_and_lookup(), text("I did not refund it: you said no.", chunks=2))
    run = await paused(thread)

    socket = await open_socket(str(thread.id), user_client.raw_token)
    try:
        await socket.send({"type": "approve", "run_id": str(run.id), "decisions": "yes"})
        error = await socket.receive()
        assert error["type"] == "error"
        assert error["error"]["code"] == "validation_error"
        await socket.send({"type": "approve", "run_id": str(run.id), "decisions": [{"approve": False}]})
        assert (await socket.receive())["error"]["code"] == "validation_error"
        await socket.send(
            {
                "type": "approve",
                "run_id": str(run.id),
                "decisions": [{"tool_call_id": "call_refund", "approve": False, "reason": "Over the limit"}],
            }
        )
        frames = await socket.until_terminal()
    finally:
        await socket.disconnect()
    await run_until_done(run)

    assert refunds.calls == []
    decided = next(f for f in frames if f["type"] == "tool_call.approval_decided")
    assert (decided["approve"], decided["reason"]) == (False, "Over the limit")
    completed = next(f for f in frames if f["type"] == "tool_call.completed")
    assert completed["tool_call_id"] == "call_refund"
    assert completed["ok"] is False
    assert completed["error"] == "Rejected by the user: Over the limit"
    assert "Rejected by the user: Over the limit" in llm_tool_answers(fake_openai, 1)["call_refund"]
    assert frames[-1]["type"] == "run.completed"
    events = await stored_events(run.id)
    assert_well_numbered(events)
    assert events[-2]["content"] == "I did not refund it: you said no."
    approval = await ToolCallApproval.objects.aget(run_id=run.id)
    assert (approval.status, approval.reason) == ("rejected", "Over the limit")


async def test_a_run_resumed_while_its_claim_is_slow_is_not_stopped_by_the_watcher(
    llm, thread, fake_openai, tools, monkeypatch
):
    """The watcher of this process polls its runs every CANCEL_POLL_SECONDS and stops one that is not in
    progress here (taken over elsewhere). A resumed run it saw before its claim committed was stopped, and
    the claim then left it in progress with no task, for recovery to fail (`worker_lost`): 1 run in 5 when
    the machine was loaded. Claims slower than a poll make that certain, unless only claimed runs execute."""
    refunds, _ = tools
    fake_openai.script(refund_and_lookup(), text("Refunded after a slow claim."))
    run = await paused(thread)

    def slowed(claim):
        def slow(*args, **kwargs):
            time.sleep(executors.CANCEL_POLL_SECONDS * 2)
            return claim(*args, **kwargs)

        return slow

    # The one way a queued run is claimed: by a scheduler, from the queue.
    monkeypatch.setattr(executors, "runs_claim_queued", slowed(executors.runs_claim_queued))
    applied = await services.arun_approve(
        run=run, user=thread.owner, decisions=[Decision("call_refund", approve=True)]
    )
    assert applied.resumed

    finished = await until_status(run.id, "completed", timeout=10)
    await run_until_done(run)
    events = await stored_events(run.id)
    assert_well_numbered(events)
    assert events[-1]["type"] == "run.completed"
    assert finished.worker_id == executors.supervisor().worker_id
    assert refunds.calls == [{"path": "/orders/7/refund", "body": {"amount": 30}}]


async def test_a_call_left_undecided_is_rejected_with_timeout(llm, thread, fake_openai, tools, settings):
    refunds, _ = tools
    settings.APPROVAL_TIMEOUT_SECONDS = 1
    fake_openai.script(refund_and_lookup(), text("Nobody answered in time.", chunks=2))
    run = await paused(thread)

    # Not yet expired: the sweep leaves it waiting.
    assert await sync_to_async(approvals_expire)() == []
    await asyncio.sleep(1.2)
    # The recovery sweep of this process (what every server and worker runs) rejects it and resumes the run.
    await executors.supervisor()._sweep()
    await until_status(run.id, "completed")
    await run_until_done(run)

    events = await stored_events(run.id)
    assert_well_numbered(events)
    decided = next(e for e in events if e["type"] == "tool_call.approval_decided")
    assert (decided["approve"], decided["reason"]) == (False, "timeout")
    completed = [e for e in events if e["type"] == "tool_call.completed"][-1]
    assert completed["error"] == "Rejected by the user: timeout"
    assert refunds.calls == []


async def test_cancel_while_waiting_ends_the_run_and_the_call_never_runs(
    llm, thread, fake_openai, tools, user_client
):
    refunds, _ = tools
    fake_openai.script(refund_and_lookup(), text("never asked for"))
    client = async_client(user_client)
    run = await paused(thread)
    # The admin shows what the run waits for.
    page = await sync_to_async(admin_run_page)(run.id)
    assert "Calls needing approval" in page
    assert "tool__refund" in page
    assert "pending" in page

    response = await client.post(f"/api/runs/{run.id}/cancel")
    assert response.status_code == 202
    body = response.json()
    assert (body["run_id"], body["status"], body["cancel_requested"]) == (str(run.id), "cancelled", True)
    events = await stored_events(run.id)
    assert_well_numbered(events)
    assert events[-1]["type"] == "run.cancelled"

    late = await client.post(
        f"/api/runs/{run.id}/approve",
        {"decisions": [{"tool_call_id": "call_refund", "approve": True}]},
        content_type="application/json",
    )
    assert late.status_code == 409
    await asyncio.sleep(0.3)
    assert refunds.calls == []
    assert len(fake_openai.chat_requests) == 1
    assert (await execute(client, str(thread.id), "Next")).status_code == 202


async def test_decisions_by_another_user_are_404_and_bad_ones_400(
    llm, thread, fake_openai, tools, user_client, other_client, staff_client
):
    refunds, _ = tools
    fake_openai.script(refund_and_lookup(), text("Approved by staff."))
    run = await paused(thread)
    url = f"/api/runs/{run.id}/approve"
    approve = {"decisions": [{"tool_call_id": "call_refund", "approve": True}]}

    stranger = await async_client(other_client).post(url, approve, content_type="application/json")
    assert stranger.status_code == 404
    owner = async_client(user_client)
    for body, field in [
        ({}, "decisions"),
        ({"decisions": []}, "decisions"),
        ({"decisions": [{"tool_call_id": "call_refund", "approve": "yes"}]}, "decisions"),
        ({"decisions": [{"tool_call_id": "call_refund", "approve": True, "reason": 7}]}, "decisions"),
        ({"decisions": [{"tool_call_id": "call_refund", "approve": True}] * 2}, "decisions"),
        ({**approve, "extra": 1}, "extra"),
    ]:
        response = await owner.post(url, body, content_type="application/json")
        assert response.status_code == 400, body
        assert field in response.json()["error"]["fields"]
    unknown = await owner.post(
        url, {"decisions": [{"tool_call_id": "call_other", "approve": True}]}, content_type="application/json"
    )
    assert unknown.status_code == 409
    assert (await refreshed(run)).status == "requires_action"
    assert refunds.calls == []

    # Staff may decide for anyone.
    staff = await async_client(staff_client).post(url, approve, content_type="application/json")
    assert staff.status_code == 202
    await until_status(run.id, "completed")
    await run_until_done(run)
    assert len(refunds.calls) == 1


async def test_a_cancelled_streaming_run_keeps_its_partial_text_for_the_next_run(
    llm, thread, fake_openai, user_client
):
    fake_openai.script(
        text("The first half of a long answer that never", chunks=4, hang_after=2),
        text("Continuing where I stopped."),
    )
    client = async_client(user_client)
    async with listening(thread) as listener:
        run = await start(thread, "Tell me a long story")
        await asyncio.wait_for(listener.first_delta.wait(), 10)
        while sum(e["type"] == "message.delta" for e in listener.of_run(run.id)) < 2:
            await asyncio.sleep(0.02)
        response = await client.post(f"/api/runs/{run.id}/cancel")
        assert response.status_code == 202
        assert response.json()["cancel_requested"] is True
        await listener.wait_terminal()
        await run_until_done(run)

    events = await stored_events(run.id)
    assert_well_numbered(events)
    partial = "".join(e["delta"] for e in events if e["type"] == "message.delta")
    assert partial
    completed = events[-2]
    assert completed["type"] == "message.completed"
    assert (completed["content"], completed["incomplete"]) == (partial, True)
    assert events[-1]["type"] == "run.cancelled"
    message = await Message.objects.aget(pk=completed["message_id"])
    assert (message.role, message.content, message.incomplete) == ("assistant", partial, True)
    detail = (await client.get(f"/api/threads/{thread.id}/")).json()
    assert [(m["role"], m["content"], m["incomplete"]) for m in detail["messages"]][-1] == (
        "assistant",
        partial,
        True,
    )

    response = await execute(client, str(thread.id), "Go on")
    assert response.status_code == 202
    await until_status(response.json()["run_id"], "completed")
    context = fake_openai.chat_requests[-1].body["messages"]
    assert {"role": "assistant", "content": partial} in context
