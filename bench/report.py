"""The table printed at the end of a benchmark, with the issue's targets, and the JSON written next to it."""

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

Row = tuple[str, float | None, float | None, str, str, str]


def _verdict(holds: bool | None) -> str:
    return "n/a" if holds is None else ("met" if holds else "miss")


def _at_most(value: float | None, limit: float) -> bool | None:
    return None if value is None else value <= limit


def _both(*checks: bool | None) -> bool | None:
    return None if None in checks else all(checks)


def _added_rows(
    label: str, figures: dict[str, Any], direct_name: str, target: str, holds: bool | None
) -> list[Row]:
    direct, orchestrated = figures["direct"], figures["orchestrated"]
    failures = sum(figures["failures"].values())
    return [
        (f"{label}: {direct_name}", direct["p50_ms"], direct["p99_ms"], f"n={direct['count']}", "", ""),
        (
            f"{label}: orchestrated",
            orchestrated["p50_ms"],
            orchestrated["p99_ms"],
            f"n={orchestrated['count']}, failures {failures}",
            "",
            "",
        ),
        (f"{label}: added", figures["added_p50_ms"], figures["added_p99_ms"], "", target, _verdict(holds)),
    ]


def _round_trip_rows(figures: dict[str, Any]) -> list[Row]:
    holds = _both(_at_most(figures["added_p50_ms"], 3), _at_most(figures["added_p99_ms"], 10))
    return _added_rows("round trip", figures, "direct SDK", "p50 <= 3, p99 <= 10", holds)


def _first_token_rows(figures: dict[str, Any]) -> list[Row]:
    holds = _at_most(figures["added_p50_ms"], 5)
    return _added_rows("first token", figures, "direct SDK stream", "p50 <= 5", holds)


def _streams_rows(runs: list[dict[str, Any]]) -> list[Row]:
    rows: list[Row] = []
    for figures in runs:
        label = f"streams N={figures['clients']}"
        if "error" in figures:
            rows.append(_not_run(label, figures))
            continue
        lag, server = figures["event_lag"], figures["server"]
        intact = figures["lost_events"] == 0 and figures["out_of_order_events"] == 0
        holds = _both(
            intact and figures["completed"] == figures["clients"] and figures["content_mismatches"] == 0,
            _at_most(lag["p99_ms"], 100),
        )
        detail = (
            f"completed {figures['completed']}/{figures['clients']}, lost {figures['lost_events']}, "
            f"out of order {figures['out_of_order_events']}, content errors {figures['content_mismatches']}, "
            f"run again {figures.get('retried_runs', 0)}"
        )
        rows.append(
            (
                f"{label}: event lag",
                lag["p50_ms"],
                lag["p99_ms"],
                detail,
                "all done, 0 lost, p99 <= 100",
                _verdict(holds),
            )
        )
        first, overrun = figures["first_delta"], figures["run_overrun"]
        rows.append((f"{label}: first delta", first["p50_ms"], first["p99_ms"], "from message sent", "", ""))
        rows.append(
            (
                f"{label}: run over ideal",
                overrun["p50_ms"],
                overrun["p99_ms"],
                f"ideal {figures['ideal_run_ms']} ms; server CPU {server['cpu_avg_percent']}% avg, "
                f"{server['cpu_peak_percent']}% peak, RSS {server['rss_peak_mb']} MB",
                "",
                "",
            )
        )
    return rows


def _throughput_rows(executors: dict[str, dict[str, Any]]) -> list[Row]:
    rows: list[Row] = []
    for name, figures in executors.items():
        if "error" in figures:
            rows.append(_not_run(f"throughput {name}", figures))
            continue
        latency, per_run, server = figures["latency"], figures["per_run"], figures["server"]
        detail = (
            f"{figures['runs_per_second']} runs/s ({figures['completed']} in {figures['seconds']} s, "
            f"{sum(figures['failures'].values())} failed), concurrency {figures['concurrency']}; per run "
            f"{per_run['transactions']} DB transactions, {per_run['rows_inserted']} rows inserted; "
            f"server CPU {server['cpu_avg_percent']}%"
        )
        holds = figures["runs_per_second"] >= 300
        rows.append(
            (
                f"throughput {name}",
                latency["p50_ms"],
                latency["p99_ms"],
                detail,
                ">= 300 runs/s",
                _verdict(holds),
            )
        )
        cpu_per_run = figures.get("server_cpu_ms_per_run")
        if cpu_per_run is not None:
            rows.append(
                (
                    f"server CPU per run, {name}",
                    None,
                    None,
                    f"{cpu_per_run} ms (server processes' CPU time / runs completed)",
                    "<= 2 ms",
                    _verdict(_at_most(cpu_per_run, 2)),
                )
            )
    return rows


def _registry_rows(figures: dict[str, Any]) -> list[Row]:
    latency = figures["latency"]
    detail = f"{figures['requests_per_second']} req/s at concurrency {figures['concurrency']}"
    label = f"registry GET /api/agents/ ({figures['agents']})"
    return [
        (
            label,
            latency["p50_ms"],
            latency["p99_ms"],
            detail,
            "p50 <= 3",
            _verdict(_at_most(latency["p50_ms"], 3)),
        )
    ]


def _anchor_rows(figures: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for key, label in (("round_trip", "round trip"), ("first_token", "first token")):
        added = figures[key]
        failures = sum(added["failures"].values())
        rows.append(
            (
                f"anchor {figures['name']}: {label} added",
                added["added_p50_ms"],
                added["added_p99_ms"],
                f"proxied p50 {number(added['orchestrated']['p50_ms'])} ms, direct p50 "
                f"{number(added['direct']['p50_ms'])} ms, n={added['orchestrated']['count']}, "
                f"failures {failures}",
                "",
                "",
            )
        )
    return rows


ROW_BUILDERS: dict[str, Callable[[Any], list[Row]]] = {
    "round_trip": _round_trip_rows,
    "first_token": _first_token_rows,
    "streams": _streams_rows,
    "throughput": _throughput_rows,
    "registry": _registry_rows,
    "anchor": _anchor_rows,
}


def _not_run(label: str, figures: dict[str, Any]) -> Row:
    return (label, None, None, f"did not run: {figures['error']}", "", "miss")


def rows_of(results: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for name, build in ROW_BUILDERS.items():
        figures = results.get(name)
        if name == "anchor" and isinstance(figures, dict) and "error" in figures:
            # Optional: a missing anchor is said, never a failure of the benchmark.
            rows.append(("anchor", None, None, f"not measured: {figures['error']}", "", ""))
        elif isinstance(figures, dict) and "error" in figures:
            rows.append(_not_run(name, figures))
        elif figures is not None:
            rows.extend(build(figures))
    return rows


def table(rows: list[Row]) -> str:
    header = ("measurement", "p50 ms", "p99 ms", "details", "target", "result")
    return text_table(
        header,
        [
            (name, number(p50), number(p99), detail, target, verdict)
            for name, p50, p99, detail, target, verdict in rows
        ],
    )


def text_table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    """Columns aligned by spaces, a rule under the header."""
    cells = [header, *rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def number(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}" if abs(value) < 100 else f"{value:.0f}"


def results_write(document: dict[str, Any], directory: Path, started: datetime) -> Path:
    """Write `latest.json` and a timestamped copy; the path of the latter."""
    directory.mkdir(parents=True, exist_ok=True)
    text = json.dumps(document, indent=2, sort_keys=False) + "\n"
    stamped = directory / f"bench-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    stamped.write_text(text)
    (directory / "latest.json").write_text(text)
    return stamped
