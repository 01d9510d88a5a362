"""Tracing: off by default, and the incoming `traceparent` carried on to outbound calls."""

import pytest

from orchestrator_studio.tracing import (
    provider_name,
    run_trace_options,
    trace_headers,
    trace_llm_turn,
    tracing_enabled,
)
from registry.models import ExternalAgent

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def test_tracing_is_off_without_an_endpoint_and_costs_nothing():
    assert not tracing_enabled()
    assert trace_headers({"Accept": "application/json"}) == {"Accept": "application/json"}
    assert run_trace_options() == {}
    with trace_llm_turn(base_url=None, request={"model": "gpt-4o"}) as turn:
        turn.first_chunk()
        turn.llm_finished(usage={}, finish_reason="stop", cached=False)
    assert turn.span is None


@pytest.mark.parametrize(
    ("base_url", "name"),
    [(None, "openai"), ("https://api.openai.com/v1", "openai"), ("http://127.0.0.1:11434/v1", "127.0.0.1")],
)
def test_the_provider_is_openai_or_the_server_host(base_url, name):
    assert provider_name(base_url) == name


def test_an_incoming_traceparent_reaches_the_agent_called(spans, staff_client, fake_agent):
    ExternalAgent.objects.create(name="helper", url=fake_agent.base_url, auth_token=fake_agent.token)

    response = staff_client.post(
        "/api/agents/helper/call", {"task": "hello"}, format="json", HTTP_TRACEPARENT=TRACEPARENT
    )
    untraced = staff_client.post("/api/agents/helper/call", {"task": "again"}, format="json")

    assert response.status_code == 200
    traced_call, untraced_call = fake_agent.requests[-2:]
    assert traced_call.headers["traceparent"].split("-")[1] == TRACE_ID
    assert "traceparent" not in untraced_call.headers  # no trace in progress: none invented
    assert untraced.status_code == 200
