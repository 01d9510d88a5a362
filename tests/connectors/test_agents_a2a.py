"""A2A agents against real agents on loopback (a2a-sdk's server routes, JSON-RPC, Bearer token): the card,
calls, streaming progress, cancel, interrupted states, failures and secrets."""

import asyncio
import json
import logging

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.test import Client

from registry.catalog import catalog_build, catalog_call
from registry.config_files import registry_export
from registry.connectors.a2a import a2a_call, a2a_context_id
from registry.models import ExternalAgent
from registry.secrets import mask
from tests.connectors import factories
from tests.fakes.server import free_port

# What the fake agent's own server side logs (it sees the token, as the real agent does).
FAKE_SERVER_LOGGERS = ("a2a.server", "sse_starlette", "uvicorn")


def a2a_agent(fake, *, name: str = "research", **fields) -> ExternalAgent:
    data = {
        "url": fake.base_url,
        "auth_token": fake.token,
        "protocol": "a2a",
        "timeout_seconds": 10,
        **fields,
    }
    return factories.agent(save=True, name=name, **data)


def catalog_call_sync(name: str, arguments: dict, *, thread_id: str = "thread-1", on_progress=None):
    catalog = async_to_sync(catalog_build)()
    context = {"thread_id": thread_id, "run_id": "r-1", "user_id": "u-1"}
    return async_to_sync(catalog_call)(catalog, name, arguments, context=context, on_progress=on_progress)


@pytest.mark.parametrize("legacy_card", [False, True], ids=["v1.0-card", "v0.3-card"])
def test_test_reads_and_validates_the_card(make_fake_a2a, staff_client, legacy_card):
    fake = make_fake_a2a(legacy_card=legacy_card)
    a2a_agent(fake)
    result = staff_client.post("/api/agents/research/test").json()
    assert result["ok"] is True, result
    assert result["status_code"] == 200
    card = result["card"]
    assert (card["name"], card["description"], card["version"]) == (
        "Research agent",
        "Finds things out.",
        "2.0.0",
    )
    assert card["skills"][0] == {"id": "research", "name": "Research", "description": "Looks things up."}
    assert card["streaming"] is True


@pytest.mark.parametrize(
    ("streaming", "legacy_card"),
    [(True, False), (False, False), (True, True)],
    ids=["streaming", "polled", "v0.3-card"],
)
def test_call_sends_the_task_and_returns_the_finished_task(
    make_fake_a2a, staff_client, streaming, legacy_card
):
    fake = make_fake_a2a(streaming=streaming, legacy_card=legacy_card)
    a2a_agent(fake)
    result = staff_client.post("/api/agents/research/call", {"task": "look up Q3"}, format="json").json()
    assert result["ok"] is True, result
    assert result["status_code"] == 200
    response = result["response"]
    assert response["state"] == "completed"
    assert response["text"] == "done: look up Q3"
    assert response["task_id"] == fake.task_ids[-1]
    assert response["context_id"] == fake.context_ids[-1]
    assert response["artifacts"][0]["name"] == "answer"


def test_artifacts_come_back_as_json(db, fake_a2a):
    a2a_agent(fake_a2a)
    result = catalog_call_sync("agent__research", {"task": "numbers please"})
    assert result.output["text"] == "Q3 numbers"
    [artifact] = result.output["artifacts"]
    assert artifact["name"] == "table"
    assert artifact["parts"] == [{"text": "Q3 numbers"}, {"data": {"q3": 42, "regions": ["north", None]}}]


def test_call_needs_a_task(fake_a2a, staff_client):
    a2a_agent(fake_a2a)
    response = staff_client.post("/api/agents/research/call", {"question": "x"}, format="json")
    assert response.status_code == 400
    assert "task" in response.json()["error"]["fields"]
    assert fake_a2a.task_ids == []


def test_a_run_function_described_by_the_card_taking_a_task(fake_a2a, user_client):
    a2a_agent(fake_a2a, input_schema={"type": "object", "properties": {"q": {"type": "string"}}})
    schemas = user_client.get("/api/tools/registry/schemas").json()
    [function] = [entry["function"] for entry in schemas if entry["function"]["name"] == "agent__research"]
    assert function["description"].startswith("Finds things out. Skills: Research: Looks things up.")
    assert function["parameters"]["required"] == ["task"]


def test_an_agent_whose_card_is_unavailable_is_offered_and_not_asked_again_by_every_run(db, caplog):
    factories.agent(save=True, name="gone", url=f"http://127.0.0.1:{free_port()}", protocol="a2a")
    first = async_to_sync(catalog_build)().functions["agent__gone"]
    assert first.description == "Delegate a task to the A2A agent 'gone'."
    assert caplog.text.count("The card of A2A agent gone is unavailable") == 1
    async_to_sync(catalog_build)()
    assert caplog.text.count("The card of A2A agent gone is unavailable") == 1


def test_the_registry_description_wins_over_the_card(fake_a2a, user_client):
    a2a_agent(fake_a2a, description="Our research desk.")
    schemas = user_client.get("/api/tools/registry/schemas").json()
    [function] = [entry["function"] for entry in schemas if entry["function"]["name"] == "agent__research"]
    assert function["description"] == "Our research desk."


def test_context_id_is_stable_per_thread(db, fake_a2a):
    a2a_agent(fake_a2a)
    first = catalog_call_sync("agent__research", {"task": "one"}, thread_id="thread-a")
    second = catalog_call_sync("agent__research", {"task": "two"}, thread_id="thread-a")
    other = catalog_call_sync("agent__research", {"task": "three"}, thread_id="thread-b")
    assert [first.ok, second.ok, other.ok] == [True, True, True]
    assert fake_a2a.context_ids == [a2a_context_id("thread-a")] * 2 + [a2a_context_id("thread-b")]
    assert a2a_context_id("thread-a") != "thread-a"
    assert first.output["text"] == "done: one"


def test_a_streaming_agent_reports_its_progress(db, fake_a2a):
    a2a_agent(fake_a2a)
    heard: list[str] = []

    async def on_progress(text: str) -> None:
        heard.append(text)

    result = catalog_call_sync("agent__research", {"task": "steps 3 of work"}, on_progress=on_progress)
    assert result.ok, result.error
    assert heard == ["step 1 of 3", "step 2 of 3", "step 3 of 3"]
    assert result.output["text"] == "done: steps 3 of work"


@pytest.mark.parametrize("streaming", [True, False], ids=["streaming", "polled"])
def test_cancelling_the_call_sends_cancel_task(db, make_fake_a2a, streaming):
    fake = make_fake_a2a(streaming=streaming)
    agent = a2a_agent(fake)

    async def cancel_while_working() -> None:
        call = asyncio.ensure_future(a2a_call(agent, "hang on", context_id="ctx-cancel"))
        assert await asyncio.to_thread(fake.started.wait, 10)
        while not fake.task_ids:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)  # let the client hear of the task before the run is cancelled
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call

    async_to_sync(cancel_while_working)()
    assert fake.cancelled == fake.task_ids


def test_an_agent_past_its_timeout_is_cancelled_and_reported(db, fake_a2a):
    a2a_agent(fake_a2a, timeout_seconds=1)
    result = catalog_call_sync("agent__research", {"task": "hang forever"})
    assert result.ok is False
    assert "did not finish within 1s" in result.error
    assert "has been cancelled" in result.error
    assert fake_a2a.cancelled == fake_a2a.task_ids


def test_input_required_comes_back_as_such_and_the_next_message_resumes_the_task(db, fake_a2a):
    a2a_agent(fake_a2a)
    asked = catalog_call_sync("agent__research", {"task": "ask me first"})
    assert asked.ok is True
    assert asked.output["state"] == "input-required"
    assert asked.output["text"] == "Which account?"
    answered = catalog_call_sync("agent__research", {"task": "account 42"})
    assert answered.output["state"] == "completed"
    assert answered.output["text"] == "done: account 42"
    assert answered.output["task_id"] == asked.output["task_id"]


def test_a_task_the_agent_forgot_fails_once_and_the_thread_goes_on(db, fake_a2a):
    a2a_agent(fake_a2a)
    assert catalog_call_sync("agent__research", {"task": "ask me first"}).output["state"] == "input-required"
    fake_a2a.restart()
    forgotten = catalog_call_sync("agent__research", {"task": "account 42"})
    assert forgotten.ok is False
    assert "answered an error" in forgotten.error
    fresh = catalog_call_sync("agent__research", {"task": "account 42"})
    assert fresh.ok is True
    assert fresh.output["text"] == "done: account 42"


def test_a_failed_task_is_ok_false_with_the_agents_words(db, fake_a2a):
    a2a_agent(fake_a2a)
    result = catalog_call_sync("agent__research", {"task": "fail please"})
    assert result.ok is False
    assert result.error == "The A2A agent's task ended failed: the research failed"
    assert result.output["state"] == "failed"


def test_an_agent_card_at_a_blocked_address_is_refused_before_connecting(staff_client, db):
    factories.agent(save=True, name="metadata", url="http://169.254.169.254", protocol="a2a")
    result = staff_client.post("/api/agents/metadata/test").json()
    assert result["ok"] is False
    assert result["status_code"] is None
    assert "cloud metadata address" in result["error"]
    call = staff_client.post("/api/agents/metadata/call", {"task": "x"}, format="json").json()
    assert call["ok"] is False
    assert "cloud metadata address" in call["error"]


def test_a_card_naming_a_blocked_interface_is_refused_before_calling_it(make_fake_a2a, staff_client):
    fake = make_fake_a2a(interface_url="http://169.254.169.254/a2a")
    a2a_agent(fake)
    probe = staff_client.post("/api/agents/research/test").json()
    assert probe["ok"] is False
    assert "cloud metadata address" in probe["error"]
    call = staff_client.post("/api/agents/research/call", {"task": "x"}, format="json").json()
    assert call["ok"] is False
    assert fake.task_ids == []


def test_private_addresses_are_refused_when_blocked(fake_a2a, staff_client, settings):
    a2a_agent(fake_a2a)
    settings.BLOCK_PRIVATE_NETWORKS = True
    probe = staff_client.post("/api/agents/research/test").json()
    assert probe["ok"] is False
    assert "loopback address (BLOCK_PRIVATE_NETWORKS is on)" in probe["error"]


def test_an_agent_that_is_down_or_refuses_the_token(fake_a2a, staff_client):
    factories.agent(save=True, name="gone", url=f"http://127.0.0.1:{free_port()}", protocol="a2a")
    down = staff_client.post("/api/agents/gone/test").json()
    assert down["ok"] is False
    assert "Cannot reach the agent card at http://127.0.0.1" in down["error"]
    assert "connection refused" in down["error"]

    a2a_agent(fake_a2a, name="wrong-token", auth_token="not-the-token-0123456789")
    refused = staff_client.post("/api/agents/wrong-token/call", {"task": "x"}, format="json").json()
    assert refused["ok"] is False
    assert refused["status_code"] == 401
    assert "answered HTTP 401 (check the token)" in refused["error"]


def test_the_token_is_sent_but_never_shown_logged_or_exported(fake_a2a, staff_client, caplog):
    caplog.set_level(logging.DEBUG)
    a2a_agent(fake_a2a)
    shown = staff_client.get("/api/agents/research/").json()
    assert shown["protocol"] == "a2a"
    assert shown["auth_token_set"] is True
    result = staff_client.post("/api/agents/research/call", {"task": "whoami"}, format="json")
    assert fake_a2a.last_token == fake_a2a.token
    assert fake_a2a.token not in result.content.decode()
    assert result.json()["response"]["text"] == f"called with Bearer {mask(fake_a2a.token)}"
    exported = registry_export()
    assert {"name": "research", "protocol": "a2a"}.items() <= exported["agents"][0].items()
    assert fake_a2a.token not in json.dumps(exported)
    leaked = [r.name for r in caplog.records if fake_a2a.token in r.getMessage()]
    assert not [name for name in leaked if not name.startswith(FAKE_SERVER_LOGGERS)]


def test_health_connectivity_and_the_admin_show_a2a_agents(fake_a2a, staff_client):
    agent = a2a_agent(fake_a2a)
    factories.agent(save=True, name="classic", url=f"http://127.0.0.1:{free_port()}")
    health = staff_client.get("/api/agents/health/all").json()
    rows = {row["name"]: row for row in health["agents"]}
    assert rows["research"]["ok"] is True
    assert rows["classic"]["ok"] is False
    connectivity = staff_client.get("/api/monitoring/connectivity").json()
    protocols = {row["name"]: row["protocol"] for row in connectivity["agents"]}
    assert protocols == {"research": "a2a", "classic": "http"}

    admin = Client()
    admin.force_login(get_user_model().objects.create_superuser(username="root", password="pw-root-123"))
    page = admin.post(f"/admin/registry/externalagent/{agent.pk}/test/", follow=True).content.decode()
    assert f"Connection to “{agent.name}” OK" in page
    assert "<strong>Research agent</strong> 2.0.0" in page
    assert "<code>summarise</code></td><td>Summarise</td><td>Sums up a text.</td>" in page


def test_existing_and_new_agents_default_to_the_http_protocol(staff_client, db):
    body = {"name": "classic", "url": "https://agents.example.com"}
    created = staff_client.post("/api/agents/", body, format="json").json()
    assert created["protocol"] == "http"
    invalid = staff_client.post("/api/agents/", {**body, "name": "odd", "protocol": "smtp"}, format="json")
    assert invalid.status_code == 400
    assert "protocol" in invalid.json()["error"]["fields"]
