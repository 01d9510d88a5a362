from prometheus_client.parser import text_string_to_metric_families

from monitoring.metrics import run_recorder


def scrape(client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_run_counters_move_after_a_run(staff_client):
    before = scrape(staff_client)

    run_recorder.run_started()
    run_recorder.run_finished(
        status="completed",
        model="prom-test-model",
        duration_seconds=1.5,
        ttft_seconds=0.3,
        prompt_tokens=120,
        completion_tokens=30,
    )
    run_recorder.tool_call(kind="agent", ok=False, latency_seconds=0.2)

    after = scrape(staff_client)
    assert (
        value(after, "orchestrator_runs_started_total")
        == value(before, "orchestrator_runs_started_total") + 1
    )
    finished = {"status": "completed", "model": "prom-test-model"}
    assert value(after, "orchestrator_runs_finished_total", **finished) == (
        value(before, "orchestrator_runs_finished_total", **finished) + 1
    )
    for kind, amount in (("prompt", 120), ("completion", 30)):
        labels = {"model": "prom-test-model", "type": kind}
        assert value(after, "orchestrator_llm_tokens_total", **labels) == (
            value(before, "orchestrator_llm_tokens_total", **labels) + amount
        )
    assert value(after, "orchestrator_run_duration_seconds_count", status="completed") == (
        value(before, "orchestrator_run_duration_seconds_count", status="completed") + 1
    )
    # 1.5 s falls in the 2 s bucket, not the 1 s one.
    assert value(after, "orchestrator_run_duration_seconds_bucket", status="completed", le="2.0") == (
        value(before, "orchestrator_run_duration_seconds_bucket", status="completed", le="2.0") + 1
    )
    assert value(after, "orchestrator_run_duration_seconds_bucket", status="completed", le="1.0") == value(
        before, "orchestrator_run_duration_seconds_bucket", status="completed", le="1.0"
    )
    assert value(after, "orchestrator_run_time_to_first_token_seconds_count") == (
        value(before, "orchestrator_run_time_to_first_token_seconds_count") + 1
    )
    assert value(after, "orchestrator_tool_calls_total", kind="agent", outcome="error") == (
        value(before, "orchestrator_tool_calls_total", kind="agent", outcome="error") + 1
    )


def test_requests_are_counted_by_route_pattern(staff_client):
    staff_client.get("/api/monitoring/logs")
    before = scrape(staff_client)

    staff_client.get("/api/monitoring/logs")
    staff_client.get("/api/monitoring/logs?limit=0")

    after = scrape(staff_client)
    ok = {"method": "GET", "route": "api/monitoring/logs", "status": "200"}
    bad = {"method": "GET", "route": "api/monitoring/logs", "status": "400"}
    assert value(after, "orchestrator_http_requests_total", **ok) == (
        value(before, "orchestrator_http_requests_total", **ok) + 1
    )
    assert value(after, "orchestrator_http_requests_total", **bad) == (
        value(before, "orchestrator_http_requests_total", **bad) + 1
    )
    timing = {"method": "GET", "route": "api/monitoring/logs"}
    assert value(after, "orchestrator_http_request_duration_seconds_count", **timing) == (
        value(before, "orchestrator_http_request_duration_seconds_count", **timing) + 2
    )


def test_unknown_paths_share_one_label(staff_client):
    staff_client.get("/api/no-such-thing/abc123")
    staff_client.get("/api/no-such-thing/def456")

    samples = scrape(staff_client)
    routes = {
        dict(labels).get("route") for (name, labels) in samples if name == "orchestrator_http_requests_total"
    }
    assert "<unmatched>" in routes
    assert not any(route and "abc123" in route for route in routes)
