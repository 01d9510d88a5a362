"""One active run per thread: a second run while one is queued or in progress is a Conflict, also when both
are asked for at the same moment."""

import threading

import pytest
from django.db import connection

from orchestrator_studio.errors import Conflict, ValidationFailed
from registry.models import LLMConfig
from threads import services
from threads.models import Message, Run, RunEvent

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_second_run_while_one_is_active_is_a_conflict(llm, thread):
    first = services.run_create(thread=thread, task="first", options={})

    with pytest.raises(Conflict) as raised:
        services.run_create(thread=thread, task="second", options={})

    assert raised.value.code == "run_active"
    assert raised.value.status_code == 409
    assert list(Run.objects.filter(thread=thread)) == [first]
    assert list(Message.objects.filter(thread=thread).values_list("content", flat=True)) == ["first"]


def test_run_create_stores_the_message_the_run_and_its_created_event(llm, thread):
    run = services.run_create(thread=thread, task="hello there", options={"use_tools": False})

    assert run.status == "queued"
    assert run.llm_config == llm
    assert run.options == {"use_tools": False}
    event = RunEvent.objects.get(run=run)
    assert event.seq == 1
    assert event.payload["type"] == "run.created"
    assert event.payload["status"] == "queued"
    assert event.payload["thread_id"] == str(thread.id)
    assert event.payload["run_id"] == str(run.id)
    message = Message.objects.get(thread=thread)
    assert (message.role, message.content, message.run) == ("user", "hello there", run)


def test_an_unknown_or_disabled_llm_config_is_refused_and_changes_nothing(llm, thread):
    LLMConfig.objects.create(name="off", model="gpt-4o", enabled=False)

    for name in ("missing", "off"):
        with pytest.raises(ValidationFailed) as raised:
            services.run_create(thread=thread, task="x", options={"llm_config": name})
        assert list(raised.value.fields) == ["llm_config"]

    assert not Run.objects.exists()
    assert not Message.objects.exists()


@pytest.mark.parametrize("attempt", range(3))
def test_runs_started_at_the_same_moment_make_exactly_one_run(llm, thread, attempt):
    starters = 4
    barrier = threading.Barrier(starters)
    outcomes: list[str] = []
    lock = threading.Lock()

    def start() -> None:
        try:
            barrier.wait()
            services.run_create(thread=thread, task="race", options={})
            outcome = "created"
        except Conflict:
            outcome = "conflict"
        except Exception as exc:
            outcome = f"error: {exc!r}"
        finally:
            connection.close()
        with lock:
            outcomes.append(outcome)

    workers = [threading.Thread(target=start) for _ in range(starters)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)

    assert sorted(outcomes) == ["conflict"] * (starters - 1) + ["created"]
    assert Run.objects.filter(thread=thread).count() == 1
    assert Message.objects.filter(thread=thread).count() == 1
