"""The bench's verdicts: a layout as written on its command line; issue 10's targets judged met or miss."""

import pytest

from bench.services import Layout
from bench.targets import target_rows


def _added(p50: float, p99: float) -> dict:
    timing = {"count": 300, "p50_ms": 1.0, "p99_ms": 2.0, "max_ms": 3.0}
    return {
        "direct": timing,
        "orchestrated": timing,
        "added_p50_ms": p50,
        "added_p99_ms": p99,
        "failures": {},
    }


def _streams(clients: int, *, lost: int, lag_p99: float) -> dict:
    return {
        "clients": clients,
        "completed": clients,
        "lost_events": lost,
        "out_of_order_events": 0,
        "content_mismatches": 0,
        "event_lag": {"count": 22 * clients, "p50_ms": 5.0, "p99_ms": lag_p99, "max_ms": lag_p99},
    }


def _throughput(runs_per_second: float, cpu_ms: float) -> dict:
    return {"runs_per_second": runs_per_second, "server_cpu_ms_per_run": cpu_ms}


def _verdicts(rows: list[tuple[str, str, str, str]]) -> dict[str, str]:
    return {figure: verdict for figure, _, _, verdict in rows}


def test_layouts_are_read_as_written():
    assert Layout.parse("2") == Layout(uvicorn_workers=2, run_workers=0)
    assert Layout.parse("1+2").label == "1 uvicorn worker + 2 runworkers"
    assert Layout.parse("2").label == "2 uvicorn workers, inline executor"
    assert str(Layout.parse("1+2")) == "1+2"
    for wrong in ("0", "1+-1", "two"):
        with pytest.raises(ValueError, match="not a layout"):
            Layout.parse(wrong)


def test_each_target_is_judged_against_the_issue():
    main, other = "2 uvicorn workers, inline executor", "1 uvicorn worker, inline executor"
    results = {
        "round_trip": _added(2.5, 10.5),
        "first_token": _added(4.0, 30.0),
        "streams": [_streams(100, lost=0, lag_p99=20), _streams(1000, lost=0, lag_p99=90)],
        "throughput": {main: _throughput(250, 1.5), other: _throughput(320, 1.0)},
        "registry": {"latency": {"p50_ms": 2.9}},
    }
    verdicts = _verdicts(target_rows(results, main))
    assert verdicts == {
        "added round trip (/v1/chat, instant LLM)": "miss",  # p99 over 10 ms
        "added first token (websocket)": "met",
        "concurrent streaming runs (20 chunks, 50 ms apart)": "met",
        f"runs per second, instant LLM ({main})": "miss",  # the main layout is judged, not the best one
        "GET /api/agents/ with 50 agents": "met",
        f"server CPU per run ({main})": "met",
    }


def test_a_lost_event_or_too_few_streams_never_meets_the_streams_target():
    main = "2 uvicorn workers, inline executor"
    lossy = target_rows({"streams": [_streams(1000, lost=1, lag_p99=10)]}, main)
    small = target_rows({"streams": [_streams(100, lost=0, lag_p99=10)]}, main)
    assert lossy[2][3] == "miss"
    assert small[2][3] == "n/a (largest N measured: 100)"


def test_missing_and_failed_scenarios_are_said():
    rows = target_rows({"round_trip": {"error": "TimeoutError: "}}, "2 uvicorn workers, inline executor")
    assert rows[0][1:] == ("did not run: TimeoutError: ", "<= 3 ms p50, <= 10 ms p99", "miss")
    assert rows[1][1] == "not measured in this run"
    assert rows[1][3] == "n/a"


def test_the_anchor_ratio_is_ours_over_theirs():
    results = {"round_trip": _added(20.0, 30.0), "first_token": _added(10.0, 12.0)}
    results["anchor"] = {
        "name": "LiteLLM proxy 1.0",
        "round_trip": _added(10.0, 14.0),
        "first_token": _added(5.0, 9.0),
    }
    rows = target_rows(results, "2 uvicorn workers, inline executor")
    assert rows[-2][:2] == (
        "anchor LiteLLM proxy 1.0: added round trip",
        "10.00 ms p50; ours / theirs = 2.00",
    )
    assert rows[-1][1] == "5.00 ms p50; ours / theirs = 2.00"
