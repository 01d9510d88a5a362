"""The app's own figures: Prometheus counters and histograms, plus a last-hour window.

Prometheus (`/metrics`) holds everything since start; with `PROMETHEUS_MULTIPROC_DIR` set (before the first
import of prometheus_client) every server and worker process writes to that directory and `/metrics` adds
them up. The last-hour window keeps per-minute buckets of the same figures: in Redis when `REDIS_URL` is set,
so every process (web and run workers) adds to one window, in this process's memory otherwise.

The `record_*` functions sit on the run path: they only touch memory (and queue a Redis write), and never
raise.
"""

import atexit
import json
import math
import os
import threading
import time
from collections import defaultdict
from collections.abc import Iterable

from prometheus_client import Counter, Gauge, Histogram

from monitoring.redis_link import background_writer, redis_client, redis_enabled

RUN_DURATION_BUCKETS = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600)
TTFT_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30)
TOOL_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
HTTP_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
TOOL_KINDS = ("tool", "agent", "datasource")
MAX_LABEL_LENGTH = 100

WINDOW_SECONDS = 3600
WINDOW_KEY_PREFIX = "orchestrator:monitoring:window:"
# A minute bucket outlives the hour it can be part of by a margin, then Redis drops it by itself.
WINDOW_KEY_TTL_SECONDS = WINDOW_SECONDS + 300
WINDOW_READ_FLUSH_SECONDS = 0.5

HTTP_REQUESTS = Counter(
    "orchestrator_http_requests", "HTTP requests served, by route pattern.", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "orchestrator_http_request_duration_seconds",
    "Time to produce an HTTP response (streaming bodies excluded), by route pattern.",
    ["method", "route"],
    buckets=HTTP_LATENCY_BUCKETS,
)
RUNS_STARTED = Counter("orchestrator_runs_started", "Runs an executor started.")
RUNS_FINISHED = Counter(
    "orchestrator_runs_finished", "Runs that ended, by final status.", ["status", "model"]
)
RUNS_ACTIVE = Gauge("orchestrator_runs_active", "Runs executing now.", multiprocess_mode="livesum")
RUN_DURATION = Histogram(
    "orchestrator_run_duration_seconds",
    "Run wall time, start to end.",
    ["status"],
    buckets=RUN_DURATION_BUCKETS,
)
RUN_TTFT = Histogram(
    "orchestrator_run_time_to_first_token_seconds",
    "Time from a run's start to the first streamed token.",
    buckets=TTFT_BUCKETS,
)
TOKENS = Counter("orchestrator_llm_tokens", "LLM tokens used, by model and type.", ["model", "type"])
COST_USD = Counter(
    "orchestrator_llm_cost_usd", "What runs cost in USD (priced models only), by model.", ["model"]
)
LLM_CACHE_LOOKUPS = Counter(
    "orchestrator_llm_cache_lookups", "LLM turns looked up in the response cache, by outcome.", ["outcome"]
)
TOOL_CALLS = Counter(
    "orchestrator_tool_calls", "Tool, agent and datasource calls, by kind and outcome.", ["kind", "outcome"]
)
TOOL_LATENCY = Histogram(
    "orchestrator_tool_call_duration_seconds",
    "Tool, agent and datasource call latency, by kind.",
    ["kind"],
    buckets=TOOL_LATENCY_BUCKETS,
)

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    from prometheus_client import multiprocess

    # The live-sum gauge of a process that exited must stop counting.
    atexit.register(lambda: multiprocess.mark_process_dead(os.getpid()))


def _label(value: object) -> str:
    text = str(value or "unknown")
    return text[:MAX_LABEL_LENGTH]


def _bucket_index(value: float, bounds: Iterable[float]) -> int:
    for index, bound in enumerate(bounds):
        if value <= bound:
            return index
    return len(tuple(bounds))


def _field(*parts: object) -> str:
    return json.dumps([str(part) for part in parts])


class MinuteWindow:
    """Per-minute sums of named figures, read back as the sum over the last hour."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[int, defaultdict[str, float]] = {}

    def add(self, increments: dict[str, float]) -> None:
        minute = int(time.time() // 60)
        if redis_enabled():
            key = f"{WINDOW_KEY_PREFIX}{minute}"

            def write(pipe) -> None:
                for field, amount in increments.items():
                    pipe.hincrbyfloat(key, field, amount)
                pipe.expire(key, WINDOW_KEY_TTL_SECONDS)

            background_writer().submit(write)
            return
        with self._lock:
            bucket = self._buckets.setdefault(minute, defaultdict(float))
            for field, amount in increments.items():
                bucket[field] += amount
            oldest = minute - WINDOW_SECONDS // 60
            for stale in [m for m in self._buckets if m <= oldest]:
                del self._buckets[stale]

    def totals(self) -> dict[tuple[str, ...], float]:
        summed: defaultdict[tuple[str, ...], float] = defaultdict(float)
        for bucket in self.minutes().values():
            for field, amount in bucket.items():
                summed[field] += amount
        return dict(summed)

    def minutes(self) -> dict[int, dict[tuple[str, ...], float]]:
        """Each minute of the last hour (minutes since the epoch, oldest first) with its figures."""
        now_minute = int(time.time() // 60)
        minutes = range(now_minute - WINDOW_SECONDS // 60 + 1, now_minute + 1)
        raw: dict[int, dict[str, float]] = {}
        if redis_enabled():
            background_writer().flush(WINDOW_READ_FLUSH_SECONDS)
            pipe = redis_client().pipeline(transaction=False)
            for minute in minutes:
                pipe.hgetall(f"{WINDOW_KEY_PREFIX}{minute}")
            for minute, bucket in zip(minutes, pipe.execute(), strict=True):
                raw[minute] = {field.decode(): float(amount) for field, amount in bucket.items()}
        else:
            with self._lock:
                for minute in minutes:
                    raw[minute] = dict(self._buckets.get(minute, {}))
        return {
            minute: {tuple(json.loads(field)): amount for field, amount in bucket.items()}
            for minute, bucket in raw.items()
        }


window = MinuteWindow()


class RunRecorder:
    """The figures of runs, as the engine reports them (`threads.engine.metrics.RunMetrics`, set by the
    setting RUN_METRICS). Never raises: metrics must never break a run."""

    def run_started(self) -> None:
        try:
            RUNS_STARTED.inc()
            RUNS_ACTIVE.inc()
            window.add({_field("runs_started"): 1})
        except Exception:  # noqa: S110 - metrics must never break a run
            pass

    def run_finished(
        self,
        *,
        status: str,
        model: str,
        duration_seconds: float,
        ttft_seconds: float | None,
        prompt_tokens: int,
        completion_tokens: int,
    ) -> None:
        try:
            status, model = _label(status), _label(model)
            duration_seconds = max(0.0, float(duration_seconds))
            prompt_tokens, completion_tokens = (
                max(0, int(prompt_tokens or 0)),
                max(0, int(completion_tokens or 0)),
            )
            RUNS_FINISHED.labels(status=status, model=model).inc()
            RUNS_ACTIVE.dec()
            RUN_DURATION.labels(status=status).observe(duration_seconds)
            increments = {
                _field("runs_finished", status, model): 1.0,
                _field("run_duration", _bucket_index(duration_seconds, RUN_DURATION_BUCKETS)): 1.0,
            }
            if ttft_seconds is not None and math.isfinite(ttft_seconds) and ttft_seconds >= 0:
                RUN_TTFT.observe(ttft_seconds)
                increments[_field("ttft", _bucket_index(ttft_seconds, TTFT_BUCKETS))] = 1.0
            if prompt_tokens:
                TOKENS.labels(model=model, type="prompt").inc(prompt_tokens)
                increments[_field("tokens", model, "prompt")] = prompt_tokens
            if completion_tokens:
                TOKENS.labels(model=model, type="completion").inc(completion_tokens)
                increments[_field("tokens", model, "completion")] = completion_tokens
            window.add(increments)
        except Exception:  # noqa: S110 - metrics must never break a run
            pass

    def tool_call(self, *, kind: str, ok: bool, latency_seconds: float) -> None:
        try:
            kind = kind if kind in TOOL_KINDS else _label(kind)
            outcome = "ok" if ok else "error"
            latency_seconds = max(0.0, float(latency_seconds))
            TOOL_CALLS.labels(kind=kind, outcome=outcome).inc()
            TOOL_LATENCY.labels(kind=kind).observe(latency_seconds)
            window.add(
                {
                    _field("tool_calls", kind, outcome): 1.0,
                    _field("tool_latency", kind, _bucket_index(latency_seconds, TOOL_LATENCY_BUCKETS)): 1.0,
                }
            )
        except Exception:  # noqa: S110 - metrics must never break a run
            pass

    def run_cost(self, *, model: str, cost_usd: float | None) -> None:
        """What a run cost (nothing is counted for an unpriced model)."""
        try:
            if cost_usd is None or not math.isfinite(cost_usd) or cost_usd <= 0:
                return
            model = _label(model)
            COST_USD.labels(model=model).inc(cost_usd)
            window.add({_field("cost_usd", model): float(cost_usd)})
        except Exception:  # noqa: S110 - metrics must never break a run
            pass

    def llm_cache_lookup(self, *, hit: bool) -> None:
        """An LLM turn looked up in the response cache: answered from it (hit) or not."""
        try:
            outcome = "hit" if hit else "miss"
            LLM_CACHE_LOOKUPS.labels(outcome=outcome).inc()
            window.add({_field("llm_cache", outcome): 1.0})
        except Exception:  # noqa: S110 - metrics must never break a run
            pass


run_recorder = RunRecorder()


def record_http_request(*, method: str, route: str, status: int, duration_seconds: float) -> None:
    try:
        HTTP_REQUESTS.labels(method=method, route=route, status=str(status)).inc()
        HTTP_LATENCY.labels(method=method, route=route).observe(max(0.0, duration_seconds))
    except Exception:  # noqa: S110 - metrics must never break a request
        pass
