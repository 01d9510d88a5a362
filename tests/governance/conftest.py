import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from orchestrator_studio.tracing import tracing_install
from tests.threads_api.conftest import async_client


@pytest.fixture
def spans():
    """Tracing on for this test, into the SDK's in-memory exporter: `spans.get_finished_spans()`."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing_install(provider)
    yield exporter
    tracing_install(None)
    provider.shutdown()


@pytest.fixture
def alice(user_client):
    """alice's async client with her token, as the agent API tests use (tests/threads_api/conftest.py)."""
    return async_client(user_client)
