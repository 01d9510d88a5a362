"""The measurements of issues 6 and 10, each a coroutine that drives a running server and returns its figures.

Clients are the real ones: httpx for HTTP, the `openai` SDK for direct calls to the fake LLM, `websockets`
for the thread websocket. Warm-up requests are made and left out of every figure.
"""

import asyncio
import functools
import itertools
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import openai
import psycopg
import websockets

from bench.stats import ProcessSampler, difference_ms, summary_ms

TERMINAL = ("run.completed", "run.failed", "run.cancelled")
CONNECT_CONCURRENCY = 50
STREAM_START_RAMP_SECONDS = 1.0
STREAM_TIMEOUT_SECONDS = 90.0
PG_STATS_SETTLE_SECONDS = 1.5
LOSS_EXAMPLES = 5


@dataclass
class Server:
    """A running project server and how to reach it as one user."""

    base_url: str
    token: str
    http: httpx.AsyncClient

    def websocket_url(self, thread_id: str) -> str:
        return f"ws{self.base_url.removeprefix('http')}/ws/threads/{thread_id}/?token={self.token}"


class Failure(Exception):
    """One request that did not do what it should; counted, never fatal to a measurement."""


async def chat(server: Server, prompt: str) -> dict[str, Any]:
    response = await server.http.post("/v1/chat", json={"prompt": prompt})
    if response.status_code != 200:
        raise Failure(f"/v1/chat {response.status_code}")
    answer = response.json()
    if answer["status"] != "completed":
        raise Failure(f"run {answer['status']}: {(answer.get('error') or {}).get('code')}")
    return answer


async def thread_initiate(server: Server) -> str:
    response = await server.http.post("/api/agent/initiate", json={})
    if response.status_code != 201:
        raise Failure(f"/api/agent/initiate {response.status_code}")
    return response.json()["thread_id"]


async def bounded(concurrency: int, calls: Iterable[Callable[[], Awaitable[Any]]]) -> list[Any]:
    """Await every call with at most `concurrency` in flight; results (or exceptions) in order."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one(call: Callable[[], Awaitable[Any]]) -> Any:
        async with semaphore:
            return await call()

    return await asyncio.gather(*(one(call) for call in calls), return_exceptions=True)


# --- 1 and 2. added latency: round trip and first token -----------------------------------------------

Timed = Callable[[str], Awaitable[float]]
CALL_ERRORS = (
    Failure,
    TimeoutError,
    httpx.HTTPError,
    openai.OpenAIError,
    websockets.WebSocketException,
)


async def paired(direct: Timed, through: Timed, *, name: str, samples: int, warmup: int) -> dict[str, Any]:
    """The same prompt sent directly and through something (ours, or an anchor), one at a time, the order
    alternating; each call returns the seconds it measured. Added = difference of the medians and p99s."""
    direct_times: list[float] = []
    through_times: list[float] = []
    failures: Counter[str] = Counter()
    for index in range(warmup + samples):
        prompt = f"{name} {index}"
        pairs = [(direct_times, direct), (through_times, through)]
        for bucket, call in pairs[:: 1 if index % 2 else -1]:
            try:
                elapsed = await call(prompt)
            except CALL_ERRORS as exc:
                failures[str(exc)[:80] or type(exc).__name__] += 1
                continue
            if index >= warmup:
                bucket.append(elapsed)
    base, measured = summary_ms(direct_times), summary_ms(through_times)
    return {
        "direct": base,
        "orchestrated": measured,
        "added_p50_ms": difference_ms(measured, base, "p50_ms"),
        "added_p99_ms": difference_ms(measured, base, "p99_ms"),
        "failures": dict(failures),
    }


def sdk_completion(llm: openai.AsyncOpenAI, model: str) -> Timed:
    """A non-streamed chat completion through the `openai` SDK; its duration."""

    async def call(prompt: str) -> float:
        started = time.perf_counter()
        await llm.chat.completions.create(model=model, messages=[{"role": "user", "content": prompt}])
        return time.perf_counter() - started

    return call


def sdk_first_token(llm: openai.AsyncOpenAI, model: str) -> Timed:
    """A streamed chat completion through the `openai` SDK; the time to its first content chunk."""

    async def call(prompt: str) -> float:
        started = time.perf_counter()
        stream = await llm.chat.completions.create(
            model=model, messages=[{"role": "user", "content": prompt}], stream=True
        )
        first = None
        async with stream:
            async for chunk in stream:
                if first is None and chunk.choices and chunk.choices[0].delta.content:
                    first = time.perf_counter() - started
        if first is None:
            raise Failure("no content chunk")
        return first

    return call


async def round_trip(
    server: Server, llm: openai.AsyncOpenAI, *, model: str, samples: int, warmup: int
) -> dict[str, Any]:
    """`/v1/chat` against a direct SDK call to the same instant fake."""

    async def orchestrated(prompt: str) -> float:
        started = time.perf_counter()
        await chat(server, prompt)
        return time.perf_counter() - started

    return await paired(
        sdk_completion(llm, model), orchestrated, name="round trip", samples=samples, warmup=warmup
    )


async def first_token(
    server: Server, llm: openai.AsyncOpenAI, *, model: str, llm_config: str, samples: int, warmup: int
) -> dict[str, Any]:
    """Websocket `message` → first `message.delta`, against a streamed SDK call's first content chunk."""

    async def websocket_call(prompt: str) -> float:
        thread_id = await thread_initiate(server)
        async with websockets.connect(server.websocket_url(thread_id), open_timeout=30) as socket:
            started = time.perf_counter()
            await socket.send(json.dumps({"type": "message", "content": prompt, "llm_config": llm_config}))
            first = None
            while True:
                event = json.loads(await asyncio.wait_for(socket.recv(), 30))
                if first is None and event["type"] == "message.delta":
                    first = time.perf_counter() - started
                if event["type"] in (*TERMINAL, "error"):
                    break
        if first is None or event["type"] != "run.completed":
            raise Failure(f"websocket run ended with {event['type']}")
        return first

    return await paired(
        sdk_first_token(llm, model), websocket_call, name="first token", samples=samples, warmup=warmup
    )


# --- 3. concurrent streams ---------------------------------------------------------------------------


@dataclass
class StreamClient:
    """One websocket client running one streamed run, and what it received (arrival: epoch seconds)."""

    prompt: str
    socket: Any = None
    sent: float = 0.0
    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    problem: str | None = None

    @property
    def terminal(self) -> dict[str, Any] | None:
        last = self.events[-1][1] if self.events else None
        return last if last is not None and last["type"] in TERMINAL else None

    async def run(self, delay: float, llm_config: str, deadline: float) -> None:
        await asyncio.sleep(delay)
        self.sent = time.time()
        frame = {"type": "message", "content": self.prompt, "llm_config": llm_config}
        try:
            await self.socket.send(json.dumps(frame))
            while True:
                raw = await asyncio.wait_for(self.socket.recv(), max(0.0, deadline - time.monotonic()))
                event = json.loads(raw)
                self.events.append((time.time(), event))
                if event["type"] == "error":
                    self.problem = f"error frame: {event['error']['code']}"
                    return
                if event["type"] in TERMINAL:
                    return
        except TimeoutError:
            self.problem = "timed out"
        except (OSError, websockets.WebSocketException) as exc:
            self.problem = f"socket: {type(exc).__name__}"


def _stream_check(client: StreamClient, expected_content: str) -> dict[str, Any]:
    """Lost and out-of-order events of one run, whether it was run again, and whether its deltas make its
    final content (counting from its last `run.retrying`, where clients reset the message text)."""
    events = [event for _, event in client.events]
    seqs = [event["seq"] for event in events if "seq" in event]
    out_of_order = sum(1 for a, b in itertools.pairwise(seqs) if b <= a)
    missing = sorted(set(range(1, max(seqs, default=0) + 1)) - set(seqs))
    retries = [index for index, event in enumerate(events) if event["type"] == "run.retrying"]
    last_attempt = events[retries[-1] + 1 :] if retries else events
    deltas = "".join(e["delta"] for e in last_attempt if e["type"] == "message.delta")
    finals = [e["content"] for e in last_attempt if e["type"] == "message.completed"]
    return {
        "missing": missing,
        "out_of_order": out_of_order,
        "retried": bool(retries),
        "content_ok": finals == [deltas] and deltas == expected_content,
    }


async def concurrent_streams(
    server: Server, *, clients: int, llm_config: str, ideal_seconds: float, pids: list[int]
) -> dict[str, Any]:
    """N websocket clients, each running one streamed run at the same time (started over one second)."""
    streams = [StreamClient(prompt=f"stream {index} of {clients}") for index in range(clients)]
    thread_ids = await bounded(CONNECT_CONCURRENCY, [lambda: thread_initiate(server)] * clients)

    async def connect(stream: StreamClient, thread_id: str) -> None:
        stream.socket = await websockets.connect(
            server.websocket_url(thread_id), open_timeout=60, ping_interval=None, max_queue=None
        )

    try:
        connected = await bounded(
            CONNECT_CONCURRENCY,
            [
                functools.partial(connect, s, t)
                for s, t in zip(streams, thread_ids, strict=True)
                if not isinstance(t, BaseException)
            ],
        )
        running = [s for s in streams if s.socket is not None]
        deadline = time.monotonic() + STREAM_TIMEOUT_SECONDS
        async with ProcessSampler(pids) as sampler:
            await asyncio.gather(
                *(
                    s.run(index * STREAM_START_RAMP_SECONDS / len(running), llm_config, deadline)
                    for index, s in enumerate(running)
                )
            )
    finally:
        await asyncio.gather(*(_close(s) for s in streams if s.socket is not None))
    return _streams_figures(streams, [*thread_ids, *connected], clients, ideal_seconds, sampler)


async def _close(stream: StreamClient) -> None:
    try:
        if stream.terminal is None:
            await stream.socket.send(json.dumps({"type": "cancel"}))
        await asyncio.wait_for(stream.socket.close(), 10)
    except (TimeoutError, OSError, websockets.WebSocketException):
        stream.socket.transport.abort()


def _streams_figures(
    streams: list[StreamClient],
    setup: list[Any],
    clients: int,
    ideal_seconds: float,
    sampler: ProcessSampler,
) -> dict[str, Any]:
    problems: Counter[str] = Counter(
        f"setup: {type(result).__name__}" for result in setup if isinstance(result, BaseException)
    )
    lags: list[float] = []
    first_deltas: list[float] = []
    overruns: list[float] = []
    lost = out_of_order = bad_content = completed = retried = 0
    loss_examples: list[dict[str, Any]] = []
    for stream in streams:
        if stream.socket is None:
            continue
        check = _stream_check(stream, f"You said: {stream.prompt}")
        lost += len(check["missing"])
        if check["missing"] and len(loss_examples) < LOSS_EXAMPLES:
            terminal_type = stream.terminal["type"] if stream.terminal else stream.problem
            loss_examples.append(
                {"missing_seqs": check["missing"], "received": len(stream.events), "end": terminal_type}
            )
        out_of_order += check["out_of_order"]
        retried += check["retried"]
        for arrival, event in stream.events:
            if "created_at" in event:
                lags.append(arrival - datetime.fromisoformat(event["created_at"]).timestamp())
        first = next((t for t, e in stream.events if e["type"] == "message.delta"), None)
        if first is not None:
            first_deltas.append(first - stream.sent)
        terminal = stream.terminal
        if terminal is None:
            problems[stream.problem or "no terminal event"] += 1
        elif terminal["type"] != "run.completed":
            problems[f"{terminal['type']}: {(terminal.get('error') or {}).get('code')}"] += 1
        elif not check["content_ok"]:
            bad_content += 1
        else:
            completed += 1
            overruns.append(stream.events[-1][0] - stream.sent - ideal_seconds)
    return {
        "clients": clients,
        "completed": completed,
        "lost_events": lost,
        "out_of_order_events": out_of_order,
        "content_mismatches": bad_content,
        "retried_runs": retried,
        "event_lag": summary_ms(lags),
        "first_delta": summary_ms(first_deltas),
        "run_overrun": summary_ms(overruns),
        "ideal_run_ms": round(ideal_seconds * 1000),
        "problems": dict(problems),
        "loss_examples": loss_examples,
        "server": sampler.figures(),
    }


# --- 4. run throughput -------------------------------------------------------------------------------


async def pg_activity(database_url: str) -> dict[str, int]:
    """Cumulative transaction and row counters of the benchmark's database (pg_stat_database)."""
    await asyncio.sleep(PG_STATS_SETTLE_SECONDS)
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cursor = await conn.execute(
            "SELECT xact_commit + xact_rollback, tup_inserted, tup_updated, tup_deleted, tup_fetched"
            " FROM pg_stat_database WHERE datname = current_database()"
        )
        row = await cursor.fetchone()
    keys = ("transactions", "rows_inserted", "rows_updated", "rows_deleted", "rows_fetched")
    return dict(zip(keys, row or (0,) * len(keys), strict=True))


async def run_throughput(
    server: Server, *, seconds: float, concurrency: int, warmup: int, pids: list[int], database_url: str
) -> dict[str, Any]:
    """Runs per second sustained for `seconds` by `concurrency` clients, each posting `/v1/chat` (instant
    LLM) in turn; a run counts when its answer arrived, and the span ends with the last answer."""
    await bounded(concurrency, [lambda: chat(server, "warm up")] * warmup)
    latencies: list[float] = []
    failures: Counter[str] = Counter()
    tickets = itertools.count()
    started = time.perf_counter()

    async def client() -> None:
        while time.perf_counter() - started < seconds:
            sent = time.perf_counter()
            try:
                await chat(server, f"throughput {next(tickets)}")
            except (Failure, httpx.HTTPError) as exc:
                failures[str(exc)[:80] or type(exc).__name__] += 1
                continue
            latencies.append(time.perf_counter() - sent)

    before = await pg_activity(database_url)
    async with ProcessSampler(pids) as sampler:
        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    after = await pg_activity(database_url)
    done = max(len(latencies), 1)
    return {
        "seconds": round(elapsed, 1),
        "concurrency": concurrency,
        "completed": len(latencies),
        "runs_per_second": round(len(latencies) / elapsed, 1),
        "latency": summary_ms(latencies),
        "per_run": {key: round((after[key] - before[key]) / done, 1) for key in before},
        "server_cpu_ms_per_run": round(sampler.cpu_seconds / done * 1000, 2),
        "failures": dict(failures),
        "server": sampler.figures(),
    }


# --- 5. registry API ---------------------------------------------------------------------------------


async def registry_list(
    server: Server, *, agents: int, samples: int, warmup: int, requests: int, concurrency: int
) -> dict[str, Any]:
    """`GET /api/agents/` with `agents` agents: sequential latency, then requests per second. The agents are
    deleted afterwards: every run would offer them to the LLM."""
    names = [f"bench-agent-{index:02d}" for index in range(agents)]
    try:
        for name in names:
            response = await server.http.post(
                "/api/agents/", json={"name": name, "url": "http://127.0.0.1:9/"}
            )
            if response.status_code != 201:
                raise Failure(f"POST /api/agents/ {response.status_code}: {response.text[:200]}")
        return await _registry_measure(
            server, agents=agents, samples=samples, warmup=warmup, requests=requests, concurrency=concurrency
        )
    finally:
        for name in names:
            await server.http.delete(f"/api/agents/{name}/")


async def _registry_measure(
    server: Server, *, agents: int, samples: int, warmup: int, requests: int, concurrency: int
) -> dict[str, Any]:
    async def list_agents() -> None:
        response = await server.http.get("/api/agents/")
        if response.status_code != 200 or len(response.json()["results"]) != agents:
            raise Failure(f"GET /api/agents/ {response.status_code}")

    latencies: list[float] = []
    for index in range(warmup + samples):
        started = time.perf_counter()
        await list_agents()
        if index >= warmup:
            latencies.append(time.perf_counter() - started)
    started = time.perf_counter()
    results = await bounded(concurrency, [list_agents] * requests)
    elapsed = time.perf_counter() - started
    failures = Counter(str(r)[:80] for r in results if isinstance(r, BaseException))
    return {
        "agents": agents,
        "latency": summary_ms(latencies),
        "concurrency": concurrency,
        "requests_per_second": round((requests - sum(failures.values())) / elapsed, 1),
        "failures": dict(failures),
    }
