"""Loopback servers for the monitoring tests: an OpenAI-compatible LLM and external agents.

Small and local to these tests: they only need to answer the probes (model list, health check).
"""

import asyncio
import time
from collections.abc import Iterator

import pytest

from monitoring.logstore import log_store
from tests.fakes.server import Receive, Scope, Send, free_port, read_request, send_json, serve


class FakeLLM:
    """Answers `GET /v1/models` and `POST /v1/chat/completions`; counts the requests it gets."""

    def __init__(self) -> None:
        self.requests: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = await read_request(scope, receive)
        self.requests.append(f"{request.method} {request.path}")
        if request.path.endswith("/models"):
            model = {"id": "gpt-4o", "object": "model", "created": 0, "owned_by": "fake"}
            await send_json(send, 200, {"object": "list", "data": [model]})
        elif request.path.endswith("/chat/completions"):
            await send_json(
                send,
                200,
                {
                    "id": "chatcmpl-1",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": "gpt-4o",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": "pong"},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                },
            )
        else:
            await send_json(send, 404, {"error": {"message": "not found"}})


def agent_app(*, hang: bool = False):
    """An agent whose health check answers at once, or never (until the caller hangs up)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await read_request(scope, receive)
        if hang:
            # The next message is the client's disconnect: the probe's timeout ends this request.
            await asyncio.wait_for(receive(), timeout=60)
            return
        await send_json(send, 200, {"status": "ok"})

    return app


@pytest.fixture
def fake_llm() -> Iterator[tuple[str, FakeLLM]]:
    app = FakeLLM()
    with serve(app) as base_url:
        yield f"{base_url}/v1", app


@pytest.fixture
def dead_url() -> str:
    """A loopback address nothing listens on: connections are refused at once."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def live_agent_url() -> Iterator[str]:
    with serve(agent_app()) as base_url:
        yield base_url


@pytest.fixture
def hanging_agent_url() -> Iterator[str]:
    with serve(agent_app(hang=True)) as base_url:
        yield base_url


@pytest.fixture
def empty_log_store() -> Iterator[None]:
    log_store().clear()
    yield
    log_store().clear()
