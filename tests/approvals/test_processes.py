"""A paused run holds nothing in the process that paused it: it resumes in another process. Real processes:
`uvicorn` servers with the inline executor, and `runworker runs` workers (they need Redis and a database
shared with the tests, Postgres)."""

import os
import signal

import httpx
import pytest
from django.db import connection

from tests.approvals.conftest import stored_events, types_of, until_status
from tests.engine.processes import server_process
from tests.engine.support import assert_well_numbered, refreshed, start
from tests.engine.test_worker import worker_process
from tests.fakes.openai_server import call, text, tool_calls
from threads import services
from threads.approvals import Decision
from threads.models import Run

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="processes share events through Redis"),
]

REFUND = {"path": "/orders/9/refund", "body": {"amount": 12}}


@pytest.fixture(autouse=True)
def shared_postgres():
    if connection.vendor != "postgresql":
        pytest.skip("the processes need a database they share with the tests (Postgres)")


def script(fake_openai) -> None:
    fake_openai.script(
        tool_calls(
            call("tool__refund", REFUND, id="call_refund"),
            call("tool__lookup", {"path": "/orders/9"}, id="call_lookup"),
        ),
        text("Order 9 is refunded.", chunks=2),
    )


async def test_a_restart_between_the_pause_and_the_decision_loses_nothing(
    llm, fake_openai, tools, user_client
):
    refunds, lookups = tools
    script(fake_openai)
    headers = {"Authorization": f"Bearer {user_client.raw_token}"}

    with server_process() as (base_url, first):
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=20) as http:
            thread_id = (await http.post("/api/agent/initiate", json={})).json()["thread_id"]
            started = await http.post(f"/api/agent/{thread_id}/execute", json={"task": "Refund order 9"})
            assert started.status_code == 202
            run_id = started.json()["run_id"]
            paused = await until_status(run_id, "requires_action")
        assert paused.worker_id == ""
        # The process that paused the run stops hard: nothing of the run lived in it.
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    assert refunds.calls == []

    with server_process() as (base_url, second):
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=20) as http:
            decided = await http.post(
                f"/api/runs/{run_id}/approve",
                json={"decisions": [{"tool_call_id": "call_refund", "approve": True}]},
            )
            assert decided.status_code == 202, decided.text
            finished = await until_status(run_id, "completed")

    assert finished.worker_id.split(":")[-1] == str(second.pid)
    events = await stored_events(run_id)
    assert_well_numbered(events)
    assert types_of(events).count("run.in_progress") == 1
    completed = {e["tool_call_id"]: e for e in events if e["type"] == "tool_call.completed"}
    assert completed["call_refund"]["ok"] is True
    assert events[-2]["content"] == "Order 9 is refunded."
    assert [c["path"] for c in refunds.calls] == ["/orders/9/refund"]
    assert [c["path"] for c in lookups.calls] == ["/orders/9"]


async def test_the_worker_executor_pauses_in_one_worker_and_resumes_in_another(
    llm, thread, fake_openai, tools, settings
):
    refunds, lookups = tools
    settings.RUN_EXECUTOR = "worker"
    script(fake_openai)

    with worker_process() as first:
        run = await start(thread, "Refund order 9")
        paused = await until_status(run.id, "requires_action", timeout=60)
    assert first.poll() is not None  # that worker is gone
    assert paused.approval_pauses == 1
    assert refunds.calls == []

    with worker_process() as second:
        applied = await services.arun_approve(
            run=run, user=thread.owner, decisions=[Decision("call_refund", approve=True)]
        )
        assert applied.resumed
        finished = await until_status(run.id, "completed", timeout=60)

    assert finished.worker_id.split(":")[-1] == str(second.pid)
    events = await stored_events(run.id)
    assert_well_numbered(events)
    assert types_of(events).count("run.in_progress") == 1
    assert [c["path"] for c in refunds.calls] == ["/orders/9/refund"]
    assert len(lookups.calls) == 1
    assert (await refreshed(run)).status == Run.Status.COMPLETED
