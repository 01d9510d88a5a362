"""Issue 10's target table: one line per target figure, what this run measured, the target, met or miss.

Every figure comes from the same run; runs per second and server CPU per run are those of the main layout
(the one every other scenario was measured on, and the one README.md's "Production" recommends).
"""

from typing import Any

from bench.report import number

STREAMS_TARGET_CLIENTS = 1000
TargetRow = tuple[str, str, str, str]
HEADER = ("figure (issue 10)", "measured", "target", "result")


def _verdict(holds: bool) -> str:
    return "met" if holds else "miss"


def _failed(figures: Any) -> str | None:
    if figures is None:
        return "not measured in this run"
    if isinstance(figures, dict) and "error" in figures:
        return f"did not run: {figures['error']}"[:100]
    return None


def _added(figures: Any, figure: str, target: str, p50: float, p99: float | None) -> TargetRow:
    problem = _failed(figures)
    if problem:
        return (figure, problem, target, "n/a" if figures is None else "miss")
    if figures["added_p50_ms"] is None:
        return (figure, "no successful sample", target, "miss")
    measured = f"{number(figures['added_p50_ms'])} ms p50"
    holds = figures["added_p50_ms"] <= p50
    if p99 is not None:
        measured += f" / {number(figures['added_p99_ms'])} ms p99"
        holds = holds and figures["added_p99_ms"] is not None and figures["added_p99_ms"] <= p99
    return (figure, measured, target, _verdict(holds))


def _streams(runs: Any) -> TargetRow:
    figure, target = (
        "concurrent streaming runs (20 chunks, 50 ms apart)",
        "1,000 with 0 lost, p99 lag <= 100 ms",
    )
    if not runs:
        return (figure, "not measured in this run", target, "n/a")
    largest = max(runs, key=lambda run: run["clients"])
    if "error" in largest:
        return (figure, f"{largest['clients']}: did not run: {largest['error']}"[:100], target, "miss")
    lost = largest["lost_events"] + largest["out_of_order_events"]
    measured = (
        f"{largest['completed']}/{largest['clients']} completed, {largest['lost_events']} lost, "
        f"p99 lag {number(largest['event_lag']['p99_ms'])} ms"
    )
    if largest["clients"] < STREAMS_TARGET_CLIENTS:
        return (figure, measured, target, f"n/a (largest N measured: {largest['clients']})")
    holds = (
        largest["completed"] == largest["clients"]
        and lost == 0
        and largest["content_mismatches"] == 0
        and largest["event_lag"]["p99_ms"] is not None
        and largest["event_lag"]["p99_ms"] <= 100
    )
    return (figure, measured, target, _verdict(holds))


def _throughput(layouts: Any, main: str) -> tuple[TargetRow, TargetRow]:
    runs_figure = f"runs per second, instant LLM ({main})"
    cpu_figure = f"server CPU per run ({main})"
    figures = (layouts or {}).get(main)
    problem = _failed(figures)
    if problem or figures is None:
        verdict = "n/a" if figures is None else "miss"
        reason = problem or "not measured"
        return (runs_figure, reason, ">= 300", verdict), (cpu_figure, reason, "<= 2 ms", verdict)
    measured = f"{figures['runs_per_second']}"
    others = {name: f for name, f in layouts.items() if name != main and "error" not in f}
    if others:
        best = max(others, key=lambda name: others[name]["runs_per_second"])
        measured += f" (best other layout: {best}, {others[best]['runs_per_second']})"
    cpu = figures["server_cpu_ms_per_run"]
    return (
        (runs_figure, measured, ">= 300", _verdict(figures["runs_per_second"] >= 300)),
        (cpu_figure, f"{number(cpu)} ms", "<= 2 ms", _verdict(cpu <= 2)),
    )


def _registry(figures: Any) -> TargetRow:
    figure, target = "GET /api/agents/ with 50 agents", "<= 3 ms p50"
    problem = _failed(figures)
    if problem:
        return (figure, problem, target, "n/a" if figures is None else "miss")
    p50 = figures["latency"]["p50_ms"]
    return (figure, f"{number(p50)} ms p50", target, _verdict(p50 is not None and p50 <= 3))


def _anchor(results: dict[str, Any]) -> list[TargetRow]:
    anchor = results.get("anchor")
    if anchor is None:
        return []
    if "error" in anchor:
        return [("anchor (LiteLLM proxy)", f"not measured: {anchor['error']}"[:100], "", "")]
    rows = []
    for key, label in (("round_trip", "added round trip"), ("first_token", "added first token")):
        theirs = anchor[key]["added_p50_ms"]
        ours = (results.get(key) or {}).get("added_p50_ms")
        ratio = f"; ours / theirs = {ours / theirs:.2f}" if ours is not None and theirs else ""
        rows.append((f"anchor {anchor['name']}: {label}", f"{number(theirs)} ms p50{ratio}", "", ""))
    return rows


def target_rows(results: dict[str, Any], main_layout: str) -> list[TargetRow]:
    runs, cpu = _throughput(results.get("throughput"), main_layout)
    return [
        _added(
            results.get("round_trip"),
            "added round trip (/v1/chat, instant LLM)",
            "<= 3 ms p50, <= 10 ms p99",
            3,
            10,
        ),
        _added(results.get("first_token"), "added first token (websocket)", "<= 5 ms p50", 5, None),
        _streams(results.get("streams")),
        runs,
        _registry(results.get("registry")),
        cpu,
        *_anchor(results),
    ]
