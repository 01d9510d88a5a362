"""Recovery: a run orphaned by a process that died is run again (no tool call had started) or failed,
never left in progress; a queued run is never failed."""

import asyncio
import contextlib
import time
from datetime import timedelta

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.db import OperationalError
from django.utils import timezone

from tests.engine.support import assert_well_numbered, listening, run_until_done, start
from tests.fakes.openai_server import text
from tests.fakes.server import serve
from threads import executors, recovery, services
from threads.engine.broadcast import event_build
from threads.models import Run, RunEvent
from threads.selectors import run_events_after

pytestmark = pytest.mark.django_db(transaction=True)


def left_by_a_killed_worker(thread, *, seconds_ago: float, tool_call_started: bool = False) -> Run:
    """A run as a worker killed mid-run leaves it: in progress, a few events, a heartbeat that stopped."""
    run = services.run_create(thread=thread, task="interrupted", options={})
    stopped = timezone.now() - timedelta(seconds=seconds_ago)
    Run.objects.filter(pk=run.pk).update(
        status="in_progress", worker_id="worker-7:4242", started_at=stopped, heartbeat_at=stopped
    )
    events = [
        event_build(type="run.in_progress", thread_id=thread.id, run_id=run.id, seq=2),
        event_build(type="message.delta", thread_id=thread.id, run_id=run.id, seq=3, delta="Let me"),
    ]
    if tool_call_started:
        events.append(
            event_build(
                type="tool_call.started",
                thread_id=thread.id,
                run_id=run.id,
                seq=4,
                tool_call_id="call_1",
                name="tool__mailer",
                kind="tool",
                arguments={},
            )
        )
    RunEvent.objects.bulk_create(RunEvent(run=run, seq=e["seq"], type=e["type"], payload=e) for e in events)
    return run


async def test_a_run_whose_worker_died_before_any_tool_call_is_run_again_from_the_start(
    llm, thread, fake_openai, settings
):
    orphan = await sync_to_async(left_by_a_killed_worker)(
        thread, seconds_ago=settings.RUN_ORPHAN_AFTER_SECONDS + 5
    )
    fake_openai.script(text("Let me answer properly."))

    async with listening(thread) as listener:
        # This process's sweep finds the orphan, queues it again and claims it, as a worker would.
        executors.scheduling_start(claims_queued=True)
        await listener.wait_terminal()
    events = await sync_to_async(run_events_after)(run_id=orphan.id, after_seq=0)

    assert listener.of_run(orphan.id) == events[3:]
    assert_well_numbered(events)
    types = [e["type"] for e in events]
    assert types[:5] == ["run.created", "run.in_progress", "message.delta", "run.retrying", "run.in_progress"]
    assert types[-2:] == ["message.completed", "run.completed"]
    assert events[3]["attempt"] == 2
    assert events[3]["reason"] == "worker_lost"
    assert events[-2]["content"] == "Let me answer properly."
    run = await Run.objects.aget(pk=orphan.pk)
    assert run.status == "completed"
    assert run.attempts == 2
    # The dead attempt never reached the LLM here; the second one asked it once.
    assert len(fake_openai.chat_requests) == 1


async def test_a_run_whose_worker_died_after_a_tool_call_started_is_failed(llm, thread, settings):
    orphan = await sync_to_async(left_by_a_killed_worker)(
        thread, seconds_ago=settings.RUN_ORPHAN_AFTER_SECONDS + 5, tool_call_started=True
    )

    async with listening(thread) as listener:
        events = await recovery.arecover()
        terminal = await listener.wait_terminal(timeout=5)

    assert [event["run_id"] for event in events] == [str(orphan.id)]
    assert terminal["type"] == "run.failed"
    assert terminal["seq"] == 5
    assert terminal["error"]["code"] == "worker_lost"
    assert "worker-7:4242" in terminal["error"]["message"]
    run = await Run.objects.aget(pk=orphan.pk)
    assert run.status == "failed"
    assert run.error == terminal["error"]
    assert run.finished_at is not None
    assert await recovery.arecover() == []
    # What the run stored before its worker died is replayable, up to its one terminal event.
    stored = await sync_to_async(run_events_after)(run_id=orphan.id, after_seq=0)
    assert_well_numbered(stored)
    assert [e["type"] for e in stored][-2:] == ["tool_call.started", "run.failed"]


async def test_a_run_out_of_attempts_is_failed(llm, thread, settings):
    orphan = await sync_to_async(left_by_a_killed_worker)(
        thread, seconds_ago=settings.RUN_ORPHAN_AFTER_SECONDS + 5
    )
    await Run.objects.filter(pk=orphan.pk).aupdate(attempts=settings.RUN_MAX_ATTEMPTS)

    events = await recovery.arecover()

    assert [(e["type"], e["error"]["code"]) for e in events] == [("run.failed", "worker_lost")]
    assert (await Run.objects.aget(pk=orphan.pk)).status == "failed"


def test_a_live_run_and_a_queued_one_are_left_alone(llm, thread, other_user, settings):
    live = left_by_a_killed_worker(thread, seconds_ago=1)
    other = services.thread_create(owner=other_user)
    queued = services.run_create(thread=other, task="just queued", options={})
    Run.objects.filter(pk=queued.pk).update(
        created_at=timezone.now() - timedelta(seconds=settings.RUN_ORPHAN_AFTER_SECONDS * 100)
    )

    assert recovery.runs_recover() == []

    assert Run.objects.get(pk=live.pk).status == "in_progress"
    assert Run.objects.get(pk=queued.pk).status == "queued"


def test_the_command_reports_what_it_recovered(llm, thread, other_user, settings, capsys):
    failed = left_by_a_killed_worker(
        thread, seconds_ago=settings.RUN_ORPHAN_AFTER_SECONDS * 2, tool_call_started=True
    )
    retried = left_by_a_killed_worker(
        services.thread_create(owner=other_user), seconds_ago=settings.RUN_ORPHAN_AFTER_SECONDS * 2
    )

    call_command("recover_runs")

    output = capsys.readouterr().out
    assert f"failed run {failed.id}: worker_lost" in output
    assert f"queued run {retried.id} again: attempt 2" in output
    assert "2 orphaned run(s) recovered." in output
    assert Run.objects.get(pk=retried.pk).status == "queued"


async def test_a_thread_blocked_by_an_orphaned_run_takes_a_new_run_at_once(
    llm, thread, fake_openai, settings
):
    orphan = await sync_to_async(left_by_a_killed_worker)(
        thread, seconds_ago=settings.RUN_ORPHAN_AFTER_SECONDS + 5
    )
    fake_openai.script(text("back in business"))

    run = await start(thread, "hello again")
    events = await run_until_done(run)

    assert events[-1]["type"] == "run.completed"
    assert (await Run.objects.aget(pk=orphan.pk)).status == "failed"


async def test_a_running_run_keeps_its_heartbeat_fresh(llm, thread, fake_openai, settings):
    settings.RUN_HEARTBEAT_SECONDS = 0
    fake_openai.script(text("slow answer", chunks=4, chunk_delay=0.4))

    run = await start(thread, "take a while")
    await asyncio.sleep(0.3)
    first = await Run.objects.aget(pk=run.pk)
    await asyncio.sleep(0.6)
    second = await Run.objects.aget(pk=run.pk)
    await run_until_done(run)

    assert first.status == second.status == "in_progress"
    assert second.heartbeat_at > first.heartbeat_at


def test_a_server_process_sweeps_for_orphans_at_its_first_request(llm, thread, settings):
    from orchestrator_studio.asgi import application

    orphan = left_by_a_killed_worker(
        thread, seconds_ago=settings.RUN_ORPHAN_AFTER_SECONDS + 5, tool_call_started=True
    )

    with serve(application) as base_url:
        assert httpx.get(f"{base_url}/healthz", timeout=10).status_code == 200
        deadline = time.monotonic() + 10
        status = "in_progress"
        while status == "in_progress" and time.monotonic() < deadline:
            time.sleep(0.05)
            with contextlib.suppress(OperationalError):
                status = Run.objects.get(pk=orphan.pk).status

    assert status == "failed"
