"""The A2A door, used by `a2a-sdk`'s own client: the card, SendMessage, SendStreamingMessage, GetTask,
ListTasks and CancelTask, the last ones from a second server that did not start the run."""

import uuid

import httpx
import pytest
from a2a.client import A2ACardResolver, ClientConfig, create_client
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    GetTaskRequest,
    ListTasksRequest,
    Message,
    Part,
    Role,
    SendMessageConfiguration,
    SendMessageRequest,
    SubscribeToTaskRequest,
    TaskState,
)
from a2a.utils.errors import TaskNotFoundError
from asgiref.sync import sync_to_async
from google.protobuf.json_format import MessageToDict

from tests.doors.conftest import wait_run_status
from tests.fakes.openai_server import hang, text, tool_call
from threads.models import Message as ThreadMessage
from threads.models import Run, Thread

pytestmark = pytest.mark.django_db(transaction=True)

ANSWER = "The orchestrator answers other agents, chunk by chunk."


def _http(token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)


async def a2a_client(server: str, token: str, *, streaming: bool):
    return await create_client(
        server, client_config=ClientConfig(streaming=streaming, httpx_client=_http(token))
    )


def user_message(text_: str, *, context_id: str = "") -> SendMessageRequest:
    message = Message(
        message_id=str(uuid.uuid4()), role=Role.ROLE_USER, parts=[Part(text=text_)], context_id=context_id
    )
    return SendMessageRequest(message=message)


def artifact_text(task) -> str:
    return "".join(part.text for artifact in task.artifacts for part in artifact.parts)


async def test_the_card_describes_the_assistant_and_its_skills(server, settings, llm, crm):
    settings.ASSISTANT_NAME = "Acme assistant"
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(f"{server}/.well-known/agent-card.json")
    assert response.status_code == 200
    card = response.json()
    assert card["name"] == "Acme assistant"
    assert card["capabilities"]["streaming"] is True
    [interface] = card["supportedInterfaces"]
    assert interface == {"url": f"{server}/a2a", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}
    assert card["securitySchemes"]["bearer"]["httpAuthSecurityScheme"]["scheme"] == "Bearer"
    skills = {skill["id"]: skill for skill in card["skills"]}
    assert set(skills) == {"ask", "datasource__crm"}
    assert skills["datasource__crm"]["description"].startswith("The CRM's customers.")

    # The SDK's own resolver reads it as a valid v1.0 card.
    async with httpx.AsyncClient(timeout=10) as http:
        resolved = await A2ACardResolver(http, server).get_agent_card()
    assert (resolved.name, resolved.capabilities.streaming) == ("Acme assistant", True)
    assert [skill.id for skill in resolved.skills] == ["ask", "datasource__crm"]
    assert resolved.supported_interfaces[0].url == f"{server}/a2a"


async def test_send_message_runs_a_task_to_its_answer(server, user_client, user, llm, fake_openai, crm):
    fake_openai.script(tool_call("datasource__crm", {"query": "customers"}), text(ANSWER))
    client = await a2a_client(server, user_client.raw_token, streaming=False)
    async with client:
        [response] = [item async for item in client.send_message(user_message("Who are our customers?"))]

    task = response.task
    assert task.status.state == TaskState.TASK_STATE_COMPLETED
    assert artifact_text(task) == ANSWER
    run = await Run.objects.select_related("thread__owner").aget(pk=task.id)
    assert (run.status, str(run.thread_id), run.thread.owner) == ("completed", task.context_id, user)
    assert (run.thread.metadata, run.task) == ({"door": "a2a"}, "Who are our customers?")
    [call] = MessageToDict(task.metadata)["tool_calls"]
    assert (call["name"], call["ok"]) == ("datasource__crm", True)

    # The same context is the same thread: the assistant sees the earlier turn.
    fake_openai.script(text("Still three."))
    client = await a2a_client(server, user_client.raw_token, streaming=False)
    async with client:
        [again] = [
            item async for item in client.send_message(user_message("And now?", context_id=task.context_id))
        ]
    assert (again.task.context_id, artifact_text(again.task)) == (task.context_id, "Still three.")
    sent = [m["content"] for m in fake_openai.chat_requests[-1].body["messages"]]
    assert (sent[1], sent[-1]) == ("Who are our customers?", "And now?")
    assert await Thread.objects.acount() == 1


async def test_streaming_relays_the_run_as_status_and_artifact_updates(
    server, user_client, llm, fake_openai, crm
):
    fake_openai.script(
        tool_call("datasource__crm", {"query": "customers"}), text(ANSWER, chunks=6, chunk_delay=0.05)
    )
    client = await a2a_client(server, user_client.raw_token, streaming=True)
    async with client:
        updates = [item async for item in client.send_message(user_message("Stream it"))]

    kinds = [item.WhichOneof("payload") for item in updates]
    assert kinds[0] == "task"
    # With the inline executor the run is claimed in the transaction that creates it: already working.
    assert updates[0].task.status.state in (TaskState.TASK_STATE_SUBMITTED, TaskState.TASK_STATE_WORKING)
    statuses = [item.status_update for item in updates if item.HasField("status_update")]
    assert statuses[0].status.state == TaskState.TASK_STATE_WORKING
    assert "Calling datasource__crm" in [
        s.status.message.parts[0].text for s in statuses if s.status.message.parts
    ]
    assert statuses[-1].status.state == TaskState.TASK_STATE_COMPLETED
    chunks = [item.artifact_update for item in updates if item.HasField("artifact_update")]
    *live, last = chunks
    streamed = "".join(part.text for chunk in live for part in chunk.artifact.parts)
    run_id = updates[0].task.id
    stored = await ThreadMessage.objects.filter(run_id=run_id, role="assistant").exclude(content="").aget()
    # The text arrives in appended chunks as it is produced; the last chunk is the whole answer.
    assert streamed == ANSWER == stored.content
    assert len(live) > 1
    assert live[0].append is False
    assert all(chunk.append for chunk in live[1:])
    assert (last.append, last.last_chunk, [p.text for p in last.artifact.parts]) == (False, True, [ANSWER])


async def test_another_server_process_reads_lists_and_cancels_the_task(
    server, second_process, user_client, other_client, llm, fake_openai
):
    fake_openai.script(hang())
    client = await a2a_client(server, user_client.raw_token, streaming=False)
    request = user_message("Take forever")
    request.configuration.CopyFrom(SendMessageConfiguration(return_immediately=True))
    async with client:
        [response] = [item async for item in client.send_message(request)]
    task_id, context_id = response.task.id, response.task.context_id
    assert response.task.status.state in (TaskState.TASK_STATE_SUBMITTED, TaskState.TASK_STATE_WORKING)
    await sync_to_async(wait_run_status)(task_id, ("in_progress",))

    # The second process did not start the run (this process executes it): it knows it from Postgres,
    # and its cancel reaches this process's executor.
    other = await a2a_client(second_process, user_client.raw_token, streaming=False)
    async with other:
        working = await other.get_task(GetTaskRequest(id=task_id))
        listed = await other.list_tasks(ListTasksRequest(context_id=context_id))
        cancelled = await other.cancel_task(CancelTaskRequest(id=task_id))
    assert working.status.state == TaskState.TASK_STATE_WORKING
    assert [task.id for task in listed.tasks] == [task_id]
    assert cancelled.status.state == TaskState.TASK_STATE_CANCELED

    # Another user does not see it at all.
    stranger = await a2a_client(second_process, other_client.raw_token, streaming=False)
    async with stranger:
        with pytest.raises(TaskNotFoundError):
            await stranger.get_task(GetTaskRequest(id=task_id))
        assert (await stranger.list_tasks(ListTasksRequest())).tasks == []

    run = await Run.objects.aget(pk=task_id)
    assert run.status == "cancelled"
    client = await a2a_client(server, user_client.raw_token, streaming=False)
    async with client:
        again = await client.get_task(GetTaskRequest(id=task_id))
    assert again.status.state == TaskState.TASK_STATE_CANCELED


async def test_no_or_bad_token_is_401(server, llm):
    request = {"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": str(uuid.uuid4())}}
    async with httpx.AsyncClient(timeout=10) as http:
        for headers in ({}, {"Authorization": "Bearer nope"}):
            response = await http.post(
                f"{server}/a2a", json=request, headers={"A2A-Version": "1.0", **headers}
            )
            assert response.status_code == 401
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert response.json()["error"]["code"] == "not_authenticated"
    assert await Run.objects.acount() == 0


async def test_subscribe_follows_a_task_started_elsewhere_to_its_end(
    server, second_process, user_client, llm, fake_openai
):
    # Slow enough that the other process subscribes while the run still streams, even on a loaded machine.
    fake_openai.script(text(ANSWER, chunks=5, chunk_delay=1.0))
    client = await a2a_client(server, user_client.raw_token, streaming=False)
    request = user_message("Answer slowly")
    request.configuration.CopyFrom(SendMessageConfiguration(return_immediately=True))
    async with client:
        [response] = [item async for item in client.send_message(request)]

    other = await a2a_client(second_process, user_client.raw_token, streaming=True)
    async with other:
        updates = [item async for item in other.subscribe(SubscribeToTaskRequest(id=response.task.id))]

    assert updates[0].task.id == response.task.id
    assert updates[-1].status_update.status.state == TaskState.TASK_STATE_COMPLETED
    last = [item.artifact_update for item in updates if item.HasField("artifact_update")][-1]
    assert [part.text for part in last.artifact.parts] == [ANSWER]


async def test_a_context_the_client_names_is_one_thread(server, user_client, llm, fake_openai):
    fake_openai.script(text("First answer."), text("Second answer."))
    client = await a2a_client(server, user_client.raw_token, streaming=False)
    async with client:
        tasks = []
        for question in ("First?", "Second?"):
            [response] = [
                item async for item in client.send_message(user_message(question, context_id="my-chat"))
            ]
            tasks.append(response.task)
        listed = await client.list_tasks(ListTasksRequest(context_id="my-chat"))

    assert [task.context_id for task in tasks] == ["my-chat", "my-chat"]
    assert [artifact_text(task) for task in tasks] == ["First answer.", "Second answer."]
    assert [task.id for task in listed.tasks] == [tasks[1].id, tasks[0].id]
    thread = await Thread.objects.aget()
    assert thread.metadata == {"door": "a2a", "client_context_id": "my-chat"}
    sent = [m["content"] for m in fake_openai.chat_requests[-1].body["messages"]]
    assert sent[1:] == ["First?", "First answer.", "Second?"]


async def test_the_card_refuses_other_methods_with_a_json_405(server, llm):
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(f"{server}/.well-known/agent-card.json", json={})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert response.json()["error"]["code"] == "method_not_allowed"
