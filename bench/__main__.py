"""`python -m bench` (`make bench`): start the project and fake LLMs on loopback, measure, print the table.

See README.md, "Benchmarks", for what is measured and what limits each figure.
"""

import argparse
import asyncio
import os
import platform
import resource
import secrets
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
from bench.anchor import AnchorUnavailable, litellm_measure, litellm_start
from bench.profiling import PROFILED_APP, ServerProfiler
from bench.report import results_write, rows_of, table, text_table
from bench.scenarios import Server
from bench.services import (
    Deployment,
    Layout,
    Pinning,
    Stack,
    deployment_start,
    deployment_stop,
    fake_openai_start,
    stack_running,
)
from bench.targets import HEADER as TARGETS_HEADER
from bench.targets import target_rows

RESULTS_DIR = Path(__file__).resolve().parent / "results"
MODEL = "gpt-4o"
STREAM_CHUNKS = 20
STREAM_CHUNK_DELAY_MS = 50
SCENARIOS = ("round_trip", "first_token", "streams", "throughput", "registry")
ANCHORS = ("litellm",)
HTTP_TIMEOUT_SECONDS = 60
# Keeps a full benchmark under ten minutes even when the server cannot keep up.
SCENARIO_TIMEOUT_SECONDS = 150
REGISTRY_AGENTS = 50
REGISTRY_CONCURRENCY = 16
# The layouts whose throughput is compared (U = uvicorn workers, inline executor; U+R = R runworkers too).
COMPARED_LAYOUTS = "1,2,1+1,1+2"


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
    streams=(100, 1000),
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
        "--quick", action="store_true", help="fewer samples, N=100 streams only (about two minutes)"
    )
    parser.add_argument("--streams", help="comma-separated numbers of concurrent websocket clients")
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(SCENARIOS)}")
    parser.add_argument(
        "--layout",
        help="how the measured server runs: U uvicorn workers (inline executor), or U+R with R runworkers "
        "(worker executor); default one uvicorn worker per core it has (the production layout)",
    )
    parser.add_argument(
        "--layouts",
        default=COMPARED_LAYOUTS,
        help=f"comma-separated layouts whose throughput is compared (default {COMPARED_LAYOUTS}; "
        "--layout is always one of them)",
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="taskset: the load generator and the fakes on CPU 0, the measured servers on the other CPUs",
    )
    parser.add_argument(
        "--anchor",
        choices=ANCHORS,
        help="also measure the LiteLLM proxy against the same fake (installed by make bench ANCHOR=litellm)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="write a CPU profile (yappi) of the server's processes per scenario to <output>/profiles",
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
    try:
        args.pinning = Pinning.split(os.cpu_count() or 1) if args.pin else None
        args.layout = Layout.parse(args.layout or str(server_cpus(args.pinning)))
        layouts = [Layout.parse(text) for text in args.layouts.split(",")]
    except ValueError as exc:
        parser.error(str(exc))
    args.layouts = list(dict.fromkeys([args.layout, *layouts]))
    return args


def server_cpus(pinning: Pinning | None) -> int:
    """The CPUs the measured servers may use: all of them, or those pinning leaves them."""
    cpus = os.cpu_count() or 1
    return cpus if pinning is None else cpus - 1


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


class Measurement:
    """One benchmark: the stack, the main deployment every scenario runs on, and its profiler if any."""

    def __init__(self, stack: Stack, args: argparse.Namespace, results: dict[str, Any]) -> None:
        self.stack = stack
        self.args = args
        self.sizes: Sizes = args.sizes
        self.results = results
        self.profiler: ServerProfiler | None = None
        self.instant_url = self.stream_url = ""
        self.llm_configs_registered = False

    async def scenario(self, name: str, label: str, coroutine: Any) -> dict[str, Any]:
        """`step`, profiled on the main deployment when asked."""
        if self.profiler is None:
            return await step(label, coroutine)
        async with self.profiler.scenario(name):
            return await step(label, coroutine)

    async def main_deployment(self) -> Deployment:
        if not self.args.profile:
            return await asyncio.to_thread(deployment_start, self.stack, "server", self.args.layout)
        directory = self.args.output / "profiles"
        deployment = await asyncio.to_thread(
            deployment_start,
            self.stack,
            "server",
            self.args.layout,
            app=PROFILED_APP,
            env={"BENCH_PROFILE_DIR": str(directory)},
        )
        self.profiler = ServerProfiler(directory, deployment.processes[0].pid)
        return deployment

    async def run(self) -> None:
        """Run the chosen scenarios; each one's figures (or its error) land in `results` as soon as known."""
        args, sizes, results = self.args, self.sizes, self.results
        token = await asyncio.to_thread(self.stack.manage, "issue_token", "bench", "--create", "--staff")
        self.instant_url = instant_url = await asyncio.to_thread(
            fake_openai_start, self.stack, "fake-instant", ttft_ms=0, chunk_delay_ms=0, chunks=STREAM_CHUNKS
        )
        self.stream_url = await asyncio.to_thread(
            fake_openai_start,
            self.stack,
            "fake-stream",
            ttft_ms=0,
            chunk_delay_ms=STREAM_CHUNK_DELAY_MS,
            chunks=STREAM_CHUNKS,
        )
        throughput: dict[str, dict[str, Any]] = {}
        if "throughput" in args.scenarios:
            # Each alone on the machine: a server of another layout would take queued runs at its sweeps.
            for layout in args.layouts:
                if layout != args.layout:
                    throughput[layout.label] = await self.layout_throughput(layout, token)
        main = await self.main_deployment()
        async with (
            http_client(main.base_url, token, max(sizes.run_concurrency, REGISTRY_CONCURRENCY)) as http,
            openai.AsyncOpenAI(base_url=instant_url, api_key="sk-bench", max_retries=0) as llm,
        ):
            await self.llm_configs_register(http)
            server = Server(base_url=main.base_url, token=token, http=http)
            if "round_trip" in args.scenarios:
                results["round_trip"] = await self.scenario(
                    "round_trip",
                    "round trip",
                    scenarios.round_trip(
                        server, llm, model=MODEL, samples=sizes.samples, warmup=sizes.warmup
                    ),
                )
            if "first_token" in args.scenarios:
                results["first_token"] = await self.scenario(
                    "first_token",
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
            if args.anchor:
                results["anchor"] = await self.anchor(llm, instant_url)
            if "throughput" in args.scenarios:
                throughput[main.layout.label] = await self.scenario(
                    "throughput",
                    f"throughput ({main.layout.label})",
                    scenarios.run_throughput(server, pids=main.pids, **self.throughput_options),
                )
                results["throughput"] = {layout.label: throughput[layout.label] for layout in args.layouts}
            if "registry" in args.scenarios:
                results["registry"] = await self.scenario(
                    "registry",
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
                results["streams"] = [
                    {"clients": clients} | await self.streams(server, main, clients)
                    for clients in sizes.streams
                ]

    async def streams(self, server: Server, main: Deployment, clients: int) -> dict[str, Any]:
        ideal = (STREAM_CHUNKS - 1) * STREAM_CHUNK_DELAY_MS / 1000
        return await self.scenario(
            f"streams_{clients}",
            f"{clients} concurrent streams",
            scenarios.concurrent_streams(
                server, clients=clients, llm_config="bench-stream", ideal_seconds=ideal, pids=main.pids
            ),
        )

    @property
    def throughput_options(self) -> dict[str, Any]:
        return {
            "seconds": self.sizes.run_seconds,
            "concurrency": self.sizes.run_concurrency,
            "warmup": self.sizes.warmup,
            "database_url": self.stack.database_url,
        }

    async def llm_configs_register(self, http: httpx.AsyncClient) -> None:
        """Register the fakes as LLM configs through the first server started (they live in the database)."""
        if not self.llm_configs_registered:
            await llm_config_register(http, "bench-instant", self.instant_url, default=True)
            await llm_config_register(http, "bench-stream", self.stream_url, default=False)
            self.llm_configs_registered = True

    async def layout_throughput(self, layout: Layout, token: str) -> dict[str, Any]:
        """Runs per second of a layout other than the main one, served for it alone and stopped afterwards."""
        try:
            deployment = await asyncio.to_thread(deployment_start, self.stack, f"server-{layout}", layout)
        except RuntimeError as exc:
            return {"error": str(exc)[:300]}
        try:
            async with http_client(deployment.base_url, token, self.sizes.run_concurrency) as http:
                await self.llm_configs_register(http)
                return await step(
                    f"throughput ({layout.label})",
                    scenarios.run_throughput(
                        Server(base_url=deployment.base_url, token=token, http=http),
                        pids=deployment.pids,
                        **self.throughput_options,
                    ),
                )
        finally:
            await asyncio.to_thread(deployment_stop, self.stack, deployment)

    async def anchor(self, llm: openai.AsyncOpenAI, llm_url: str) -> dict[str, Any]:
        """The LiteLLM proxy's added round trip and first token, or why it could not be measured."""
        master_key = f"sk-{secrets.token_hex(32)}"
        try:
            proxy_url, process = await asyncio.to_thread(
                litellm_start, self.stack, llm_url=llm_url, model=MODEL, master_key=master_key
            )
        except AnchorUnavailable as exc:
            say(f"anchor LiteLLM: {exc}")
            return {"error": str(exc)}
        try:
            return await step(
                "anchor (LiteLLM proxy)",
                litellm_measure(
                    llm,
                    proxy_url,
                    master_key=master_key,
                    model=MODEL,
                    samples=self.sizes.samples,
                    warmup=self.sizes.warmup,
                ),
            )
        finally:
            await asyncio.to_thread(self.stack.stop, process)


def placement(args: argparse.Namespace) -> str:
    """Which CPUs the load generator and the measured servers had (README.md names the two figures)."""
    cpus = os.cpu_count()
    if args.pinning is None:
        return f"shared: the load generator, the fakes, the servers, Postgres and Redis on all {cpus} CPUs"
    return (
        f"pinned: the load generator and the fakes on CPU {args.pinning.clients}, the measured servers "
        f"(uvicorn, runworkers, LiteLLM) on CPU {args.pinning.servers}; Postgres and Redis unpinned "
        f"({cpus} CPUs)"
    )


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    started = datetime.now(UTC)
    clock = time.monotonic()
    load_at_start = os.getloadavg()
    if args.pinning is not None:
        os.sched_setaffinity(0, {int(cpu) for cpu in args.pinning.clients.split(",")})
    open_files = open_files_limit_raise()
    results: dict[str, Any] = {}
    log_dir = args.output / "logs"
    say(f"starting Postgres database, Redis, fake LLMs and the server (logs in {log_dir}); {placement(args)}")
    with stack_running(args.database_url, args.redis_url, log_dir, args.settings, args.pinning) as stack:
        measurement = Measurement(stack, args, results)
        asyncio.run(measurement.run())
        max_connections = asyncio.run(pg_max_connections(args.database_url))
    load_at_end = os.getloadavg()
    document: dict[str, Any] = {
        "started_at": started.isoformat(),
        "duration_seconds": round(time.monotonic() - clock, 1),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_at_start": [round(load, 2) for load in load_at_start],
            "load_average_at_end": [round(load, 2) for load in load_at_end],
        },
        "settings": {
            "quick": args.quick,
            "settings_module": args.settings,
            "placement": placement(args),
            "pinned": args.pinning is not None,
            "layout": args.layout.label,
            "layouts_compared": [layout.label for layout in args.layouts],
            "server": "uvicorn (uvloop, httptools), Postgres + channels-redis",
            "stream": f"{STREAM_CHUNKS} chunks, {STREAM_CHUNK_DELAY_MS} ms apart",
            **args.sizes.__dict__,
        },
        "limits": {"open_files": open_files, "postgres_max_connections": max_connections},
        "results": results,
    }
    rows = rows_of(results)
    targets = target_rows(results, args.layout.label)
    document["table"] = [
        dict(zip(("measurement", "p50_ms", "p99_ms", "details", "target", "result"), row, strict=True))
        for row in rows
    ]
    document["targets"] = [dict(zip(TARGETS_HEADER, row, strict=True)) for row in targets]
    if measurement.profiler is not None:
        document["profiles"] = [str(path) for path in measurement.profiler.written]
    path = results_write(document, args.output, started)
    print(table(rows))
    print(f"\nIssue 10's targets, every scenario on {args.layout.label}; {placement(args)}:\n")
    print(text_table(TARGETS_HEADER, targets))
    print(
        f"\nLoad average (1, 5, 15 min) at the start {[round(x, 2) for x in load_at_start]}, open files "
        f"{open_files}, Postgres max_connections {max_connections}.\n"
        f"Took {document['duration_seconds']} s; written to {path} and latest.json."
    )
    if measurement.profiler is not None:
        print(f"Profiles of the server: {', '.join(str(p) for p in measurement.profiler.written)}")
    # Targets missed are figures to read, not a failure of the benchmark; a scenario that could not run is.
    return 1 if any(row[3].startswith("did not run") for row in rows) else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        say("interrupted; every process it started has been stopped")
        sys.exit(130)
