"""`python -m bench` (`make bench`): start the project and fake LLMs on loopback, measure, print the table.

See README.md, "Benchmarks", for what is measured and what limits each figure.
"""

import argparse
import asyncio
import os
import platform
import resource
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import openai
import psycopg

from bench import scenarios
from bench.report import results_write, rows_of, table
from bench.scenarios import Server
from bench.services import (
    Stack,
    fake_openai_start,
    server_start,
    stack_running,
    workers_start,
)

RESULTS_DIR = Path(__file__).resolve().parent / "results"
MODEL = "gpt-4o"
STREAM_CHUNKS = 20
STREAM_CHUNK_DELAY_MS = 50
SCENARIOS = ("round_trip", "first_token", "streams", "throughput", "registry")
HTTP_TIMEOUT_SECONDS = 60
# Keeps a full benchmark under ten minutes even when the server cannot keep up.
SCENARIO_TIMEOUT_SECONDS = 150
REGISTRY_AGENTS = 50
REGISTRY_CONCURRENCY = 16


@dataclass(frozen=True)
class Sizes:
    samples: int
    warmup: int
    streams: tuple[int, ...]
    run_seconds: float
    run_concurrency: int
    registry_samples: int
    registry_requests: int


FULL = Sizes(
    samples=300,
    warmup=20,
    streams=(100, 500, 1000),
    run_seconds=20,
    run_concurrency=32,
    registry_samples=500,
    registry_requests=2000,
)
QUICK = Sizes(
    samples=60,
    warmup=5,
    streams=(100,),
    run_seconds=8,
    run_concurrency=16,
    registry_samples=100,
    registry_requests=300,
)


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="fewer samples, N=100 streams only (about a minute)"
    )
    parser.add_argument("--streams", help="comma-separated numbers of concurrent websocket clients")
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(SCENARIOS)}")
    parser.add_argument(
        "--run-workers", type=int, default=2, help="runworker processes for the worker executor"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/os_bench"),
        help="dropped and created afresh (env BENCH_DATABASE_URL)",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/6"),
        help="flushed first (env BENCH_REDIS_URL)",
    )
    parser.add_argument(
        "--settings",
        default="orchestrator_studio.settings",
        help="settings module of every process started (to compare a change of settings)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.streams:
        sizes = Sizes(**{**sizes.__dict__, "streams": tuple(int(n) for n in args.streams.split(","))})
    args.sizes = sizes
    args.scenarios = tuple(args.only.split(",")) if args.only else SCENARIOS
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    return args


def open_files_limit_raise() -> int:
    """Lift the soft open-files limit to the hard one (inherited by every process started here)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


async def llm_config_register(http: httpx.AsyncClient, name: str, base_url: str, *, default: bool) -> None:
    body = {"name": name, "model": MODEL, "base_url": base_url, "api_key": "sk-bench", "is_default": default}
    response = await http.post("/api/llm/configs/", json=body)
    if response.status_code != 201:
        raise RuntimeError(
            f"Registering LLM config {name} failed: {response.status_code} {response.text[:300]}"
        )


def http_client(base_url: str, token: str, concurrency: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx.AsyncClient(
        base_url=base_url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=HTTP_TIMEOUT_SECONDS,
        limits=limits,
    )


async def pg_max_connections(database_url: str) -> int:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cursor = await conn.execute("SHOW max_connections")
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def step(name: str, coroutine: Any) -> dict[str, Any]:
    """One scenario's figures, or `{"error": ...}` when it failed or overran its time limit."""
    say(f"{name} ...")
    started = time.monotonic()
    try:
        figures = await asyncio.wait_for(coroutine, SCENARIO_TIMEOUT_SECONDS)
    except Exception as exc:
        figures = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    say(f"{name} done in {time.monotonic() - started:.0f} s")
    return figures


async def throughput_both(
    stack: Stack, args: argparse.Namespace, server: Server, server_pid: int
) -> dict[str, dict[str, Any]]:
    """Run throughput with the inline executor (the running server), then with a server of its own that
    hands runs to `runworker` processes (stopped afterwards)."""
    sizes: Sizes = args.sizes
    options: dict[str, Any] = {
        "seconds": sizes.run_seconds,
        "concurrency": sizes.run_concurrency,
        "warmup": sizes.warmup,
        "database_url": stack.database_url,
    }
    results = {
        "inline executor, 1 server process": await step(
            "throughput (inline)", scenarios.run_throughput(server, pids=[server_pid], **options)
        )
    }
    env = {"RUN_EXECUTOR": "worker"}
    worker_url, worker_server = await asyncio.to_thread(
        server_start, stack, "server-worker", workers=1, env=env
    )
    workers = await asyncio.to_thread(workers_start, stack, args.run_workers, env)
    try:
        async with http_client(worker_url, server.token, sizes.run_concurrency) as http:
            results[f"worker executor, {args.run_workers} runworkers"] = await step(
                "throughput (worker)",
                scenarios.run_throughput(
                    Server(base_url=worker_url, token=server.token, http=http),
                    pids=[worker_server.pid, *(w.pid for w in workers)],
                    **options,
                ),
            )
    finally:
        for process in [worker_server, *workers]:
            await asyncio.to_thread(stack.stop, process)
    return results


async def measure(stack: Stack, args: argparse.Namespace, results: dict[str, Any]) -> None:
    """Run the chosen scenarios; each one's figures (or its error) land in `results` as soon as known."""
    sizes: Sizes = args.sizes
    token = await asyncio.to_thread(stack.manage, "issue_token", "bench", "--create", "--staff")
    instant_url = await asyncio.to_thread(
        fake_openai_start, stack, "fake-instant", ttft_ms=0, chunk_delay_ms=0, chunks=STREAM_CHUNKS
    )
    stream_url = await asyncio.to_thread(
        fake_openai_start,
        stack,
        "fake-stream",
        ttft_ms=0,
        chunk_delay_ms=STREAM_CHUNK_DELAY_MS,
        chunks=STREAM_CHUNKS,
    )
    base_url, inline_server = await asyncio.to_thread(server_start, stack, "server-inline", workers=1)
    async with (
        http_client(base_url, token, max(sizes.run_concurrency, REGISTRY_CONCURRENCY)) as http,
        openai.AsyncOpenAI(base_url=instant_url, api_key="sk-bench", max_retries=0) as llm,
    ):
        await llm_config_register(http, "bench-instant", instant_url, default=True)
        await llm_config_register(http, "bench-stream", stream_url, default=False)
        server = Server(base_url=base_url, token=token, http=http)
        if "round_trip" in args.scenarios:
            results["round_trip"] = await step(
                "round trip",
                scenarios.round_trip(server, llm, model=MODEL, samples=sizes.samples, warmup=sizes.warmup),
            )
        if "first_token" in args.scenarios:
            results["first_token"] = await step(
                "first token",
                scenarios.first_token(
                    server,
                    llm,
                    model=MODEL,
                    llm_config="bench-instant",
                    samples=sizes.samples,
                    warmup=sizes.warmup,
                ),
            )
        if "throughput" in args.scenarios:
            results["throughput"] = await throughput_both(stack, args, server, inline_server.pid)
        if "registry" in args.scenarios:
            results["registry"] = await step(
                "registry list",
                scenarios.registry_list(
                    server,
                    agents=REGISTRY_AGENTS,
                    samples=sizes.registry_samples,
                    warmup=sizes.warmup,
                    requests=sizes.registry_requests,
                    concurrency=REGISTRY_CONCURRENCY,
                ),
            )
        # Last: the runs a flood leaves unfinished would slow down any measurement after it.
        if "streams" in args.scenarios:
            ideal = (STREAM_CHUNKS - 1) * STREAM_CHUNK_DELAY_MS / 1000
            results["streams"] = [
                {"clients": clients}
                | await step(
                    f"{clients} concurrent streams",
                    scenarios.concurrent_streams(
                        server,
                        clients=clients,
                        llm_config="bench-stream",
                        ideal_seconds=ideal,
                        pids=[inline_server.pid],
                    ),
                )
                for clients in sizes.streams
            ]


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    started = datetime.now(UTC)
    clock = time.monotonic()
    open_files = open_files_limit_raise()
    results: dict[str, Any] = {}
    log_dir = args.output / "logs"
    say(f"starting Postgres database, Redis, fake LLMs and the server (logs in {log_dir})")
    with stack_running(args.database_url, args.redis_url, log_dir, args.settings) as stack:
        asyncio.run(measure(stack, args, results))
        max_connections = asyncio.run(pg_max_connections(args.database_url))
    document = {
        "started_at": started.isoformat(),
        "duration_seconds": round(time.monotonic() - clock, 1),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "settings": {
            "quick": args.quick,
            "settings_module": args.settings,
            "server": "uvicorn, 1 worker process, Postgres + channels-redis",
            "run_workers": args.run_workers,
            "stream": f"{STREAM_CHUNKS} chunks, {STREAM_CHUNK_DELAY_MS} ms apart",
            **args.sizes.__dict__,
        },
        "limits": {"open_files": open_files, "postgres_max_connections": max_connections},
        "results": results,
    }
    rows = rows_of(results)
    document["table"] = [
        dict(zip(("measurement", "p50_ms", "p99_ms", "details", "target", "result"), row, strict=True))
        for row in rows
    ]
    path = results_write(document, args.output, started)
    print(table(rows))
    print(
        f"\nuvicorn with 1 worker process; {args.run_workers} runworker processes for the worker executor. "
        f"{os.cpu_count()} CPUs, open files {open_files}, Postgres max_connections {max_connections}.\n"
        f"Took {document['duration_seconds']} s; written to {path} and latest.json."
    )
    # Targets missed are figures to read, not a failure of the benchmark; a scenario that could not run is.
    return 1 if any(row[3].startswith("did not run") for row in rows) else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        say("interrupted; every process it started has been stopped")
        sys.exit(130)
