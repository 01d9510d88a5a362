"""Fixtures of the approval tests: two HTTP tools on loopback servers that record every call they get, one
that needs a person's approval (`refund`) and one that does not (`lookup`)."""

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from tests.connectors import factories
from tests.fakes.server import read_request, send_json, serve
from threads import services
from threads.models import Run, Thread


class RecordingApi:
    """An HTTP API that answers `{"done": <path>}` and keeps every request it got."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        # Seconds each answer waits (a slow API).
        self.delay = 0.0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        request = await read_request(scope, receive)
        self.calls.append({"path": request.path, "body": request.json()})
        await asyncio.sleep(self.delay)
        await send_json(send, 200, {"done": request.path})


@pytest.fixture
def refund_api() -> Iterator[tuple[RecordingApi, str]]:
    api = RecordingApi()
    with serve(api) as base_url:
        yield api, base_url


@pytest.fixture
def lookup_api() -> Iterator[tuple[RecordingApi, str]]:
    api = RecordingApi()
    with serve(api) as base_url:
        yield api, base_url


def refund_tool_register(base_url: str) -> None:
    """The `refund` HTTP tool (function `tool__refund`) at `base_url`, which requires approval."""
    factories.tool(
        save=True,
        name="refund",
        description="Refund an order.",
        config={"base_url": base_url, "method": "POST", "timeout": 5},
        requires_approval=True,
    )


@pytest.fixture
def tools(db, refund_api, lookup_api) -> tuple[RecordingApi, RecordingApi]:
    """`tool__refund` (requires approval) and `tool__lookup`; returns their recording servers."""
    refunds, refund_url = refund_api
    lookups, lookup_url = lookup_api
    refund_tool_register(refund_url)
    factories.tool(
        save=True,
        name="lookup",
        description="Look an order up.",
        config={"base_url": lookup_url, "method": "GET", "timeout": 5},
    )
    return refunds, lookups


@pytest.fixture
def thread(user) -> Thread:
    return services.thread_create(owner=user, user_id="customer-42", title="Approval test")


async def until_status(run_id: Any, status: str, timeout: float = 30) -> Run:
    deadline = time.monotonic() + timeout
    while True:
        run = await Run.objects.aget(pk=run_id)
        if run.status == status:
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} is {run.status}, not {status}")
        await asyncio.sleep(0.05)


def types_of(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]


async def stored_events(run_id: Any) -> list[dict[str, Any]]:
    from threads.selectors import run_events_after

    return await sync_to_async(run_events_after)(run_id=run_id, after_seq=0)
