import time

import psutil
import pytest
from django.contrib.auth import get_user_model

from monitoring.figures import distribution
from monitoring.metrics import run_recorder
from threads.models import Run, Thread


def get_metrics(client) -> dict:
    response = client.get("/api/monitoring/metrics")
    assert response.status_code == 200
    return response.json()


def test_host_and_process_figures(staff_client):
    body = get_metrics(staff_client)

    assert set(body) == {"system", "process", "runs", "last_hour", "since_start"}
    system = body["system"]
    assert 0 <= system["cpu"]["percent"] <= 100
    assert system["cpu"]["count"] >= 1
    assert system["memory"]["total_bytes"] > system["memory"]["available_bytes"] > 0
    assert system["disk"]["total_bytes"] > 0
    process = body["process"]
    assert process["rss_bytes"] > 1_000_000
    assert process["threads"] >= 1
    assert process["open_files"] >= 0
    assert process["connections"] >= 0
    assert process["uptime_seconds"] > 0


def test_cpu_is_measured_without_a_blocking_sample(staff_client, monkeypatch):
    def refuse_interval(*args, **kwargs):
        if kwargs.get("interval", args[0] if args else None) is not None:
            raise AssertionError("psutil was asked to sleep for a sample")
        return 0.0

    monkeypatch.setattr(psutil, "cpu_percent", refuse_interval)
    get_metrics(staff_client)
    # Keep this process busy for a while: the next figures cover that time.
    busy_until = time.monotonic() + 1.2
    while time.monotonic() < busy_until:
        sum(range(1000))

    body = get_metrics(staff_client)

    # No sample was slept for (psutil refuses an interval above), yet the busy second shows: how much of
    # it depends on how busy the machine is, so only that it is there is checked.
    assert body["process"]["cpu_percent"] > 0
    assert body["system"]["cpu"]["percent"] > 0


@pytest.mark.django_db
def test_runs_by_status_come_from_the_database(staff_client):
    owner = get_user_model().objects.create_user(username="runner")
    for status in ("completed", "completed", "failed", "in_progress", "queued", "requires_action"):
        thread = Thread.objects.create(owner=owner, user_id="u1")
        Run.objects.create(thread=thread, status=status, task="hello")

    runs = get_metrics(staff_client)["runs"]

    assert runs["by_status"] == {
        "queued": 1,
        "in_progress": 1,
        "completed": 2,
        "failed": 1,
        "cancelled": 0,
        "requires_action": 1,
    }
    assert runs["by_status_last_hour"] == runs["by_status"]
    # A run waiting for a decision is active.
    assert runs["active"] == 3
    assert runs["in_progress"] == 1


def test_run_and_tool_figures_move_after_a_run(staff_client):
    before = get_metrics(staff_client)

    run_recorder.run_started()
    run_recorder.run_finished(
        status="failed",
        model="json-test-model",
        duration_seconds=4.0,
        ttft_seconds=0.8,
        prompt_tokens=50,
        completion_tokens=7,
    )
    run_recorder.tool_call(kind="datasource", ok=True, latency_seconds=0.04)
    run_recorder.tool_call(kind="datasource", ok=False, latency_seconds=0.3)

    after = get_metrics(staff_client)
    for scope in ("last_hour", "since_start"):
        old, new = before[scope], after[scope]
        assert new["runs_started"] == old["runs_started"] + 1
        assert new["runs_finished"].get("failed", 0) == old["runs_finished"].get("failed", 0) + 1
        assert new["run_duration_seconds"]["count"] == old["run_duration_seconds"]["count"] + 1
        assert new["run_duration_seconds"]["p50"] is not None
        assert new["time_to_first_token_seconds"]["count"] == old["time_to_first_token_seconds"]["count"] + 1
        assert new["tokens_by_model"]["json-test-model"] == {
            "prompt": old["tokens_by_model"].get("json-test-model", {}).get("prompt", 0) + 50,
            "completion": old["tokens_by_model"].get("json-test-model", {}).get("completion", 0) + 7,
            "total": old["tokens_by_model"].get("json-test-model", {}).get("total", 0) + 57,
        }
        old_calls = old["tool_calls"].get("datasource", {"ok": 0, "error": 0})
        new_calls = new["tool_calls"]["datasource"]
        assert (new_calls["ok"], new_calls["error"]) == (old_calls["ok"] + 1, old_calls["error"] + 1)
        assert new_calls["latency_seconds"]["count"] >= 2
        assert 0 < new_calls["latency_seconds"]["p50"] <= 30


def test_percentiles_are_read_from_the_buckets():
    bounds = (1, 2, 5, 10)
    # 90 observations up to 1 s, 9 between 2 s and 5 s, 1 beyond the last bound.
    summary = distribution(bounds, [90, 0, 9, 0, 1])

    assert summary["count"] == 100
    assert 0 < summary["p50"] <= 1
    assert summary["p90"] == 1
    assert 2 < summary["p99"] <= 5
    assert distribution(bounds, [0, 0, 0, 0, 1])["p50"] == 10
    assert distribution(bounds, [0, 0, 0, 0, 0]) == {"count": 0, "p50": None, "p90": None, "p99": None}
