"""With OTEL_EXPORTER_OTLP_ENDPOINT set, spans leave over OTLP/HTTP (protobuf) to the collector, exported
by the batch processor's own thread; another protocol is refused at start-up with the reason."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from orchestrator_studio.tracing import trace_llm_turn, tracing_configure, tracing_enabled, tracing_install
from tests.fakes.otlp_server import FakeCollector
from tests.fakes.server import serve


@pytest.fixture
def collector(monkeypatch, settings):
    fake = FakeCollector()
    with serve(fake) as base_url:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", base_url)
        settings.OTEL_EXPORTER_OTLP_ENDPOINT = base_url
        yield fake
    tracing_install(None)


def test_spans_are_exported_to_the_otlp_endpoint(collector):
    provider = tracing_configure()
    assert provider is not None
    assert tracing_enabled()

    with trace_llm_turn(base_url=None, request={"model": "gpt-4o", "temperature": 0.2}) as turn:
        turn.llm_finished(
            usage={"prompt_tokens": 12, "completion_tokens": 3}, finish_reason="stop", cached=False
        )
    assert provider.force_flush(10_000)
    provider.shutdown()

    [(name, attributes)] = collector.spans
    assert name == "chat gpt-4o"
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.request.temperature"] == 0.2
    assert attributes["gen_ai.usage.input_tokens"] == 12
    assert collector.content_types == ["application/x-protobuf"]


def test_an_unsupported_protocol_is_refused_with_the_reason(collector, settings):
    settings.OTEL_EXPORTER_OTLP_PROTOCOL = "grpc"

    with pytest.raises(ImproperlyConfigured, match="OTEL_EXPORTER_OTLP_PROTOCOL"):
        tracing_configure()
