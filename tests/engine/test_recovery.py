"""Recovery: runs orphaned by a process that died are failed, never left queued or in progress."""

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

from tests.engine.support import listening, run_until_done, start
from tests.fakes.openai_server import text
from tests.fakes.server import serve
from threads import recovery, services
from threads.models import Run, RunEvent

pytestmark = pytest.mark.django_db(transaction=True)


def left_by_a_killed_worker(thread, *, seconds_ago: float) -> Run:
    """A run as a worker killed mid-run leaves it: in progress, a few events, a heartbeat that stopped."""
    run = services.run_create(thread=thread, task="interrupted", options={})
    stopped = timezone.now() - timedelta(seconds=seconds_ago)
    Run.objects.filter(pk=run.pk).update(
        status="in_progress", worker_id="worker-7:4242", started_at=stopped, heartbeat_at=stopped
    )
    RunEvent.objects.create(
        run=run, seq=2, type="run.in_progress", payload={"type": "run.in_progress", "seq": 2}
    )
    return run


async def test_a_run_left_in_progress_by_a_killed_worker_is_failed_by_recovery(llm, thread, settings):
    orphan = await sync_to_async(left_by_a_killed_worker)(
        thread, seconds_ago=settings.RUN_ORPHAN_AFTER_SECONDS + 5
    )

    async with listening(thread) as listener:
        events = await recovery.arecover()
        terminal = await listener.wait_terminal(timeout=5)

    assert [event["run_id"] for event in events] == [str(orphan.id)]
    assert terminal["type"] == "run.failed"
    assert terminal["seq"] == 3
    assert terminal["error"]["code"] == "worker_lost"
    assert "worker-7:4242" in terminal["error"]["message"]
    run = await Run.objects.aget(pk=orphan.pk)
    assert run.status == "failed"
    assert run.error == terminal["error"]
    assert run.finished_at is not None
    assert await recovery.arecover() == []


def test_a_live_run_and_a_fresh_queued_one_are_left_alone(llm, thread, other_user, settings):
    live = left_by_a_killed_worker(thread, seconds_ago=1)
    other = services.thread_create(owner=other_user)
    queued = services.run_create(thread=other, task="just queued", options={})

    assert recovery.runs_recover() == []

    assert Run.objects.get(pk=live.pk).status == "in_progress"
    assert Run.objects.get(pk=queued.pk).status == "queued"


def test_a_queued_run_never_picked_up_is_failed(llm, thread, settings):
    run = services.run_create(thread=thread, task="lost message", options={})
    Run.objects.filter(pk=run.pk).update(
        created_at=timezone.now() - timedelta(seconds=settings.RUN_ORPHAN_AFTER_SECONDS + 1)
    )

    call_command("recover_runs", stdout=open("/dev/null", "w"))  # noqa: SIM115

    run.refresh_from_db()
    assert run.status == "failed"
    assert run.error["code"] == "run_not_started"
    assert list(RunEvent.objects.filter(run=run).values_list("type", flat=True)) == [
        "run.created",
        "run.failed",
    ]


def test_the_command_reports_what_it_failed(llm, thread, settings, capsys):
    orphan = left_by_a_killed_worker(thread, seconds_ago=settings.RUN_ORPHAN_AFTER_SECONDS * 2)

    call_command("recover_runs")

    output = capsys.readouterr().out
    assert f"failed run {orphan.id}: worker_lost" in output
    assert "1 orphaned run(s) failed." in output


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

    orphan = left_by_a_killed_worker(thread, seconds_ago=settings.RUN_ORPHAN_AFTER_SECONDS + 5)

    with serve(application) as base_url:
        assert httpx.get(f"{base_url}/healthz", timeout=10).status_code == 200
        deadline = time.monotonic() + 10
        status = "in_progress"
        while status == "in_progress" and time.monotonic() < deadline:
            time.sleep(0.05)
            with contextlib.suppress(OperationalError):
                status = Run.objects.get(pk=orphan.pk).status

    assert status == "failed"
