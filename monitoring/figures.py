"""Reads the app's figures back: the last-hour window and the Prometheus totals, in one shape.

Percentiles come from histogram buckets (linear interpolation inside the bucket, as Prometheus's
`histogram_quantile` does), so they are estimates within one bucket's width.
"""

import os
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry
from redis.exceptions import RedisError

from monitoring.metrics import RUN_DURATION_BUCKETS, TOOL_LATENCY_BUCKETS, TTFT_BUCKETS, window

QUANTILES = (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))


def multiprocess_enabled() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def prometheus_registry() -> CollectorRegistry:
    """Every process's metrics when PROMETHEUS_MULTIPROC_DIR is set, else this process's."""
    if multiprocess_enabled():
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def distribution(bounds: Sequence[float], counts: Sequence[float]) -> dict[str, Any]:
    """Count and p50/p90/p99 of observations counted per bucket (`counts[-1]` is the +Inf bucket).

    A quantile falling in the +Inf bucket is reported as the highest finite bound (a lower bound).
    """
    total = sum(counts)
    summary: dict[str, Any] = {"count": int(total)}
    for name, q in QUANTILES:
        summary[name] = _quantile(q, bounds, counts, total) if total else None
    return summary


def _quantile(q: float, bounds: Sequence[float], counts: Sequence[float], total: float) -> float:
    rank = q * total
    seen = 0.0
    for index, count in enumerate(counts):
        if count and seen + count >= rank:
            if index >= len(bounds):
                return float(bounds[-1])
            lower = bounds[index - 1] if index else 0.0
            return round(lower + (bounds[index] - lower) * (rank - seen) / count, 3)
        seen += count
    return float(bounds[-1])


def _empty_summary() -> dict[str, Any]:
    return {
        "runs_started": 0,
        "runs_finished": {},
        "run_duration_seconds": distribution(RUN_DURATION_BUCKETS, [0]),
        "time_to_first_token_seconds": distribution(TTFT_BUCKETS, [0]),
        "tool_calls": {},
        "tokens_by_model": {},
        "cost_usd_by_model": {},
        "llm_cache": {"hits": 0, "misses": 0},
    }


def _tool_entry(summary: dict[str, Any], kind: str) -> dict[str, Any]:
    return summary["tool_calls"].setdefault(kind, {"ok": 0, "error": 0, "latency_seconds": None})


def _token_entry(summary: dict[str, Any], model: str) -> dict[str, int]:
    return summary["tokens_by_model"].setdefault(model, {"prompt": 0, "completion": 0, "total": 0})


_CACHE_OUTCOMES = {"hit": "hits", "miss": "misses"}


def _cost_add(summary: dict[str, Any], model: str, amount: float) -> None:
    costs = summary["cost_usd_by_model"]
    costs[model] = round(costs.get(model, 0.0) + amount, 8)


def last_hour() -> dict[str, Any] | None:
    """None when the shared window (Redis) cannot be read: the rest of the report still stands."""
    try:
        totals = window.totals()
    except RedisError:
        return None
    summary = _empty_summary()
    durations = [0.0] * (len(RUN_DURATION_BUCKETS) + 1)
    ttfts = [0.0] * (len(TTFT_BUCKETS) + 1)
    latencies: defaultdict[str, list[float]] = defaultdict(lambda: [0.0] * (len(TOOL_LATENCY_BUCKETS) + 1))
    for (name, *labels), amount in totals.items():
        if name == "runs_started":
            summary["runs_started"] += int(amount)
        elif name == "runs_finished":
            status = labels[0]
            summary["runs_finished"][status] = summary["runs_finished"].get(status, 0) + int(amount)
        elif name == "run_duration":
            durations[int(labels[0])] += amount
        elif name == "ttft":
            ttfts[int(labels[0])] += amount
        elif name == "tokens":
            model, kind = labels
            _token_entry(summary, model)[kind] += int(amount)
        elif name == "tool_calls":
            kind, outcome = labels
            _tool_entry(summary, kind)[outcome] += int(amount)
        elif name == "cost_usd":
            _cost_add(summary, labels[0], amount)
        elif name == "llm_cache":
            summary["llm_cache"][_CACHE_OUTCOMES[labels[0]]] += int(amount)
        elif name == "tool_latency":
            latencies[labels[0]][int(labels[1])] += amount
    summary["run_duration_seconds"] = distribution(RUN_DURATION_BUCKETS, durations)
    summary["time_to_first_token_seconds"] = distribution(TTFT_BUCKETS, ttfts)
    for kind, counts in latencies.items():
        _tool_entry(summary, kind)["latency_seconds"] = distribution(TOOL_LATENCY_BUCKETS, counts)
    for tokens in summary["tokens_by_model"].values():
        tokens["total"] = tokens["prompt"] + tokens["completion"]
    return summary


def _per_bucket(cumulative: dict[float, float], bounds: Sequence[float]) -> list[float]:
    """Prometheus buckets are cumulative (`le`); the window's are not."""
    ordered = [cumulative.get(float(bound), 0.0) for bound in bounds] + [cumulative.get(float("inf"), 0.0)]
    return [ordered[0]] + [ordered[i] - ordered[i - 1] for i in range(1, len(ordered))]


def since_start() -> dict[str, Any]:
    summary = _empty_summary()
    durations: defaultdict[float, float] = defaultdict(float)
    ttfts: defaultdict[float, float] = defaultdict(float)
    latencies: defaultdict[str, defaultdict[float, float]] = defaultdict(lambda: defaultdict(float))
    for family in prometheus_registry().collect():
        for sample in family.samples:
            name, labels, value = sample.name, sample.labels, sample.value
            if name == "orchestrator_runs_started_total":
                summary["runs_started"] += int(value)
            elif name == "orchestrator_runs_finished_total":
                status = labels["status"]
                summary["runs_finished"][status] = summary["runs_finished"].get(status, 0) + int(value)
            elif name == "orchestrator_run_duration_seconds_bucket":
                durations[float(labels["le"])] += value
            elif name == "orchestrator_run_time_to_first_token_seconds_bucket":
                ttfts[float(labels["le"])] += value
            elif name == "orchestrator_llm_tokens_total":
                _token_entry(summary, labels["model"])[labels["type"]] += int(value)
            elif name == "orchestrator_llm_cost_usd_total":
                _cost_add(summary, labels["model"], value)
            elif name == "orchestrator_llm_cache_lookups_total":
                summary["llm_cache"][_CACHE_OUTCOMES[labels["outcome"]]] += int(value)
            elif name == "orchestrator_tool_calls_total":
                _tool_entry(summary, labels["kind"])[labels["outcome"]] += int(value)
            elif name == "orchestrator_tool_call_duration_seconds_bucket":
                latencies[labels["kind"]][float(labels["le"])] += value
    summary["run_duration_seconds"] = distribution(
        RUN_DURATION_BUCKETS, _per_bucket(durations, RUN_DURATION_BUCKETS)
    )
    summary["time_to_first_token_seconds"] = distribution(TTFT_BUCKETS, _per_bucket(ttfts, TTFT_BUCKETS))
    for kind, cumulative in latencies.items():
        counts = _per_bucket(cumulative, TOOL_LATENCY_BUCKETS)
        _tool_entry(summary, kind)["latency_seconds"] = distribution(TOOL_LATENCY_BUCKETS, counts)
    for tokens in summary["tokens_by_model"].values():
        tokens["total"] = tokens["prompt"] + tokens["completion"]
    return summary


def _quantiles(summary: dict[str, Any]) -> dict[str, float | None]:
    return {"p50": summary["p50"], "p99": summary["p99"]}


def last_hour_by_minute() -> list[dict[str, Any]] | None:
    """The last hour minute by minute (oldest first): runs ended by status, tokens, run and first-token
    latency (p50/p99, seconds), tool calls by kind and outcome. None when the shared window (Redis) cannot
    be read."""
    try:
        minutes = window.minutes()
    except RedisError:
        return None
    series = []
    for minute, bucket in minutes.items():
        runs: defaultdict[str, int] = defaultdict(int)
        tokens = {"prompt": 0, "completion": 0}
        tool_calls: defaultdict[str, dict[str, int]] = defaultdict(lambda: {"ok": 0, "error": 0})
        durations = [0.0] * (len(RUN_DURATION_BUCKETS) + 1)
        ttfts = [0.0] * (len(TTFT_BUCKETS) + 1)
        for (name, *labels), amount in bucket.items():
            if name == "runs_finished":
                runs[labels[0]] += int(amount)
            elif name == "tokens":
                tokens[labels[1]] = tokens.get(labels[1], 0) + int(amount)
            elif name == "tool_calls":
                tool_calls[labels[0]][labels[1]] += int(amount)
            elif name == "run_duration":
                durations[int(labels[0])] += amount
            elif name == "ttft":
                ttfts[int(labels[0])] += amount
        series.append(
            {
                "start": minute * 60,
                "runs": dict(runs),
                "tokens": tokens,
                "tool_calls": dict(tool_calls),
                "latency_seconds": _quantiles(distribution(RUN_DURATION_BUCKETS, durations)),
                "ttft_seconds": _quantiles(distribution(TTFT_BUCKETS, ttfts)),
            }
        )
    return series
