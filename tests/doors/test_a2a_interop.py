"""Two sides of the project speak A2A to each other: an `a2a` agent registered in the orchestrator (the
registry's connector) that is an orchestrator itself, reached through its A2A door."""

import openai
import pytest

from registry.connectors.a2a import a2a_context_id
from registry.models import ExternalAgent
from tests.fakes.openai_server import text, tool_call
from threads.models import Run, Thread

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def studio(server, user_client, db) -> ExternalAgent:
    """The orchestrator registered as an A2A agent of its own, with a user's API token."""
    return ExternalAgent.objects.create(
        name="studio",
        protocol="a2a",
        url=server,
        auth_token=user_client.raw_token,
        timeout_seconds=30,
        description="Another assistant.",
    )


def test_the_registry_calls_an_orchestrator_through_its_a2a_door(staff_client, studio, llm, fake_openai):
    fake_openai.script(text("Four."))

    test = staff_client.post("/api/agents/studio/test").json()
    call = staff_client.post("/api/agents/studio/call", {"task": "What is 2 + 2?"}, format="json").json()

    assert test["ok"] is True
    assert test["card"]["streaming"] is True
    assert call["ok"] is True
    assert (call["response"]["state"], call["response"]["text"]) == ("completed", "Four.")
    run = Run.objects.select_related("thread__owner").get(pk=call["response"]["task_id"])
    assert (run.status, run.task, run.thread.owner.username) == ("completed", "What is 2 + 2?", "alice")


def test_a_run_delegates_to_another_orchestrator_in_one_conversation(
    server, user_client, studio, llm, fake_openai
):
    # The outer run calls the agent; the inner run (through the A2A door) answers; the outer one concludes.
    fake_openai.script(
        tool_call("agent__studio", {"task": "What is 2 + 2?"}),
        text("Four."),
        text("The other assistant says: four."),
    )
    client = openai.OpenAI(base_url=f"{server}/v1", api_key=user_client.raw_token, max_retries=0, timeout=60)

    completion = client.chat.completions.create(
        model="fake", messages=[{"role": "user", "content": "2 + 2?"}]
    )

    assert completion.choices[0].message.content == "The other assistant says: four."
    [call] = completion.model_extra["orchestrator"]["tool_calls"]
    assert (call["name"], call["ok"], call["output"]["text"]) == ("agent__studio", True, "Four.")
    # The inner run is a thread of the agent token's user, named by the contextId the connector chose for
    # the outer thread: the next delegation from that thread continues the same inner conversation.
    outer = completion.model_extra["orchestrator"]["thread_id"]
    inner = Thread.objects.get(metadata__client_context_id=a2a_context_id(outer))
    assert inner.metadata["door"] == "a2a"
    assert call["output"]["context_id"] == a2a_context_id(outer)
    assert Run.objects.get(thread=inner).status == "completed"
