"""The agent API served by uvicorn over a real socket, read with httpx: SSE frames arrive as the run
produces them (nothing buffers them), and a client that leaves mid-stream does not stop the run."""

import json
import time

import httpx
import pytest
from channels.layers import InMemoryChannelLayer
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from orchestrator_studio.asgi import application
from tests.fakes.openai_server import text
from tests.fakes.server import serve
from tests.threads_api.conftest import parse_sse
from threads.engine.broadcast import events_layer
from threads.models import Message, Run

pytestmark = pytest.mark.django_db(transaction=True)

ANSWER = "Slowly, word by word, the answer arrives over a real socket."


@pytest.fixture
def server():
    with serve(application) as base_url:
        yield base_url


def _client(base_url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=20)


def _start(http: httpx.Client) -> tuple[str, str]:
    thread_id = http.post("/api/agent/initiate", json={}).json()["thread_id"]
    response = http.post(f"/api/agent/{thread_id}/execute", json={"task": "Take your time"})
    assert response.status_code == 202
    return thread_id, response.json()["run_id"]


def _wait_ended(run_id: str, timeout: float = 15) -> Run:
    deadline = time.monotonic() + timeout
    while True:
        run = Run.objects.get(pk=run_id)
        if run.status in Run.TERMINAL_STATUSES or time.monotonic() > deadline:
            return run
        time.sleep(0.05)


def test_sse_frames_arrive_live_over_a_real_socket(server, user_client, llm, fake_openai):
    fake_openai.script(text(ANSWER, chunks=10, chunk_delay=0.1))
    with _client(server, user_client.raw_token) as http:
        thread_id, run_id = _start(http)
        with http.stream("GET", f"/api/agent/{thread_id}/stream") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["x-accel-buffering"] == "no"
            body = ""
            status_at_first_delta = None
            for chunk in response.iter_text():
                body += chunk
                if status_at_first_delta is None and "event: message.delta" in body:
                    status_at_first_delta = Run.objects.get(pk=run_id).status
    assert status_at_first_delta == "in_progress"
    frames, _ = parse_sse(body)
    events = [f["data"] for f in frames]
    assert events[-1]["type"] == "run.completed"
    assert "".join(e["delta"] for e in events if e["type"] == "message.delta") == ANSWER


def test_run_completes_when_the_client_disconnects_mid_stream(server, user_client, llm, fake_openai):
    fake_openai.script(text(ANSWER, chunks=10, chunk_delay=0.2))
    with _client(server, user_client.raw_token) as http:
        thread_id, run_id = _start(http)
        with http.stream("GET", f"/api/agent/{thread_id}/stream") as response:
            for line in response.iter_lines():
                if line == "event: message.delta":
                    break  # leave mid-stream: the connection closes with this block

        layer = events_layer()
        if isinstance(layer, InMemoryChannelLayer):
            # The server noticed at once: the stream dropped its subscription while the run goes on.
            deadline = time.monotonic() + 5
            while layer.groups.get(f"thread.{thread_id}") and time.monotonic() < deadline:
                time.sleep(0.02)
            assert not layer.groups.get(f"thread.{thread_id}")
        assert Run.objects.get(pk=run_id).status == "in_progress"

        run = _wait_ended(run_id)
        assert run.status == "completed"
        assert Message.objects.get(run=run, role="assistant").content == ANSWER
        # The stored run can be streamed again, whole.
        frames, _ = parse_sse(http.get(f"/api/agent/{thread_id}/stream?run_id={run_id}").text)
        assert frames[-1]["event"] == "run.completed"
        assert "".join(f["data"].get("delta", "") for f in frames) == ANSWER


def test_chat_over_a_real_socket(server, user_client, llm, fake_openai):
    fake_openai.script(text("Over the wire."))
    with _client(server, user_client.raw_token) as http:
        body = http.post("/v1/chat", json={"prompt": "Hello"}).json()
        assert (body["answer"], body["status"]) == ("Over the wire.", "completed")
        fake_openai.script(text("Streamed over the wire."))
        streamed = http.post(
            "/v1/chat", json={"prompt": "Hello again", "thread_id": body["thread_id"], "stream": True}
        )
        frames, _ = parse_sse(streamed.text)
        assert frames[-1]["event"] == "run.completed"
        assert frames[-2]["data"]["content"] == "Streamed over the wire."


def test_websocket_over_a_real_socket(server, user_client, other_client, llm, fake_openai):
    fake_openai.script(text(ANSWER, chunks=5))
    ws_base = server.replace("http://", "ws://")
    with _client(server, user_client.raw_token) as http:
        thread_id = http.post("/api/agent/initiate", json={}).json()["thread_id"]

    with connect(
        f"{ws_base}/ws/threads/{thread_id}/?token={user_client.raw_token}", open_timeout=5
    ) as socket:
        socket.send(json.dumps({"type": "message", "content": "Hi over the wire"}))
        events = []
        while not events or events[-1]["type"] != "run.completed":
            events.append(json.loads(socket.recv(timeout=10)))
    assert "".join(e["delta"] for e in events if e["type"] == "message.delta") == ANSWER

    # Real clients see why they were refused.
    for token, code in (("wrong", 4401), (other_client.raw_token, 4403)):
        with connect(f"{ws_base}/ws/threads/{thread_id}/?token={token}", open_timeout=5) as socket:
            with pytest.raises(ConnectionClosed) as closed:
                socket.recv(timeout=5)
            assert closed.value.rcvd.code == code


def test_chat_answers_promptly_after_a_websocket_came_and_went(server, user_client, llm, fake_openai):
    # On Redis, a websocket that leaves cancels its pending receive; that must not hold back the events of
    # later runs of the process (django/channels_redis#151) until the follower's next keep-alive.
    ws_base = server.replace("http://", "ws://")
    with _client(server, user_client.raw_token) as http:
        thread_id = http.post("/api/agent/initiate", json={}).json()["thread_id"]
        for _ in range(3):
            with connect(f"{ws_base}/ws/threads/{thread_id}/?token={user_client.raw_token}", open_timeout=5):
                pass
        for prompt in ("First", "Second"):
            fake_openai.script(text("Prompt answer."))
            asked = time.monotonic()
            body = http.post("/v1/chat", json={"prompt": prompt}).json()
            elapsed = time.monotonic() - asked
            assert (body["answer"], body["status"]) == ("Prompt answer.", "completed")
            assert elapsed < 4.0
