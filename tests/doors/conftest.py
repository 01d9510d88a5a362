"""The doors are tested with their ecosystems' own clients against the project's ASGI application served by
uvicorn on loopback, with the LLM played by the fake OpenAI-compatible server."""

import time

import pytest

from orchestrator_studio.asgi import application
from registry.models import DataSource
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
