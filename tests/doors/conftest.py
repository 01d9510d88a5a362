"""The doors are tested with their ecosystems' own clients against the project's ASGI application served by
uvicorn on loopback, with the LLM played by the fake OpenAI-compatible server."""

import os
import time
from collections.abc import Iterator

import pytest
from django.db import connection

from orchestrator_studio.asgi import application
from registry.models import DataSource
from tests.engine.processes import server_process
from tests.fakes.server import serve
from threads.models import Run


@pytest.fixture
def server():
    with serve(application) as base_url:
        yield base_url


@pytest.fixture
def crm(fake_datasource, db) -> DataSource:
    """An HTTP datasource (the fake's `customers` and `events` tables), offered to runs as
    `datasource__crm`."""
    return DataSource.objects.create(
        name="crm",
        type="http",
        url=fake_datasource.base_url,
        auth_token=fake_datasource.token,
        description="The CRM's customers.",
        timeout_seconds=5,
    )


@pytest.fixture
def payroll(fake_datasource, db) -> DataSource:
    """An HTTP datasource that needs a person's approval, `datasource__payroll`: never offered by a door."""
    return DataSource.objects.create(
        name="payroll",
        type="http",
        url=fake_datasource.base_url,
        auth_token=fake_datasource.token,
        requires_approval=True,
    )


def wait_run_status(run_id: str, statuses: tuple[str, ...], timeout: float = 15) -> Run:
    """Poll the database (as any process would) until the run reaches one of `statuses`."""
    deadline = time.monotonic() + timeout
    while True:
        run = Run.objects.get(pk=run_id)
        if run.status in statuses:
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} still {run.status}")
        time.sleep(0.05)


@pytest.fixture
def second_process(server) -> Iterator[str]:
    """Another server process (uvicorn, as `make serve` runs it) on the tests' database and Redis: what it
    knows of a run started by `server` it reads from Postgres and hears through the channel layer."""
    if connection.vendor != "postgresql" or not os.environ.get("REDIS_URL"):
        pytest.skip("a second server process shares the tests' Postgres and Redis")
    with server_process() as (base_url, _):
        yield base_url
