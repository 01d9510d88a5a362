"""Behaviour across processes: each test starts real Python processes with this project's settings."""

import json
import logging
import os
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.test import override_settings
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes.server import free_port


def run_python(code: str, **env: str) -> str:
    completed = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + code],
        env={**os.environ, **env},
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return completed.stdout


def test_prometheus_adds_up_every_process(tmp_path):
    record = (
        "from monitoring.metrics import run_recorder\n"
        "run_recorder.run_started()\n"
        "run_recorder.run_finished(status='completed', model='mp-model', duration_seconds=2.5,"
        " ttft_seconds=0.2, prompt_tokens=100, completion_tokens=10)\n"
        "run_recorder.tool_call(kind='tool', ok=True, latency_seconds=0.05)\n"
    )
    scrape = (
        "from django.test import Client\n"
        "response = Client().get('/metrics')\n"
        "assert response.status_code == 200, response.status_code\n"
        "print(response.content.decode())\n"
    )
    multiprocess = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "METRICS_PUBLIC": "true"}

    run_python(record, **multiprocess)
    run_python(record, **multiprocess)
    text = run_python(scrape, **multiprocess)

    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert samples[("orchestrator_runs_started_total", ())] == 2
    assert (
        samples[("orchestrator_runs_finished_total", (("model", "mp-model"), ("status", "completed")))] == 2
    )
    assert samples[("orchestrator_llm_tokens_total", (("model", "mp-model"), ("type", "prompt")))] == 200
    assert samples[("orchestrator_tool_calls_total", (("kind", "tool"), ("outcome", "ok")))] == 2
    assert samples[("orchestrator_run_duration_seconds_count", (("status", "completed"),))] == 2
    # Both writers have exited: no run is active any more.
    assert samples[("orchestrator_runs_active", ())] == 0


def test_json_logs_on_stdout():
    out = run_python(
        "import logging\n"
        "logging.getLogger('orders').warning('paid with api_key=%s', 'k-abc123secret', extra={'order': 7})\n",
        LOG_FORMAT="json",
    )

    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    entry = next(line for line in lines if line["logger"] == "orders")
    assert entry["level"] == "WARNING"
    assert entry["message"] == "paid with api_key=****"
    assert entry["order"] == 7
    assert entry["time"].endswith("+00:00")
    assert "k-abc123secret" not in out


@pytest.mark.skipif(not settings.REDIS_URL, reason="the log store is shared through Redis only")
def test_logs_of_another_process_are_returned(staff_client, empty_log_store):
    run_python("import logging\nlogging.getLogger('worker.other').error('worker lost its lease')\n")

    logs = staff_client.get("/api/monitoring/logs?logger=worker").json()["logs"]

    assert [entry["message"] for entry in logs] == ["worker lost its lease"]
    assert logs[0]["process"] != os.getpid()


def test_logging_never_waits_for_an_unreachable_redis(staff_client):
    with override_settings(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0"):
        started = time.perf_counter()
        for number in range(500):
            logging.getLogger("unreachable").warning("record %d", number)
        elapsed = time.perf_counter() - started
        response = staff_client.get("/api/monitoring/logs")
        metrics = staff_client.get("/api/monitoring/metrics")

    assert elapsed < 1
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable"
    assert metrics.status_code == 200
    assert metrics.json()["last_hour"] is None
    assert metrics.json()["system"]["cpu"]["count"] >= 1
