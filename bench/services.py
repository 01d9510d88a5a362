"""The processes a benchmark needs, on loopback: a fresh Postgres database, a flushed Redis database, fake
OpenAI-compatible servers, the project under uvicorn and run workers, laid out as a `Layout`.

Every process is started in a session of its own and registered with the `Stack`, which ends each one by
its process group (SIGTERM, then SIGKILL) however the benchmark ends, Ctrl-C included. With `Pinning`, each
is started under `taskset`: the fakes (like the load generator) on the clients' CPU, the project's
processes on the others.
"""

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psutil
import psycopg
import redis
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
ASGI_APP = "orchestrator_studio.asgi:application"
READY_TIMEOUT_SECONDS = 60
MANAGE_CONNECT_TIMEOUT_SECONDS = 30
STOP_TIMEOUT_SECONDS = 10


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Pinning:
    """CPU lists (taskset syntax) for the load generator and the fakes, and for the measured servers."""

    clients: str
    servers: str

    @classmethod
    def split(cls, cpus: int) -> "Pinning":
        """CPU 0 for the load generator and the fakes, CPUs 1..N-1 for the servers."""
        if cpus < 2:
            raise ValueError("pinning needs at least 2 CPUs")
        if shutil.which("taskset") is None:
            raise ValueError("pinning needs taskset (util-linux)")
        return cls(clients="0", servers="1" if cpus == 2 else f"1-{cpus - 1}")


@dataclass(frozen=True)
class Layout:
    """How the project is served: uvicorn worker processes, and `runworker runs` processes (the worker
    executor, `RUN_EXECUTOR=worker`) or none (runs execute inline in the uvicorn processes)."""

    uvicorn_workers: int
    run_workers: int = 0

    @classmethod
    def parse(cls, text: str) -> "Layout":
        """`2` (2 uvicorn workers, inline executor) or `1+2` (1 uvicorn worker, 2 runworkers)."""
        uvicorn_workers, _, run_workers = text.partition("+")
        if not uvicorn_workers.isdigit() or not (run_workers or "0").isdigit() or int(uvicorn_workers) < 1:
            raise ValueError(f"not a layout: {text!r} (U or U+R, e.g. 2 or 1+2)")
        return cls(int(uvicorn_workers), int(run_workers or 0))

    def __str__(self) -> str:
        return f"{self.uvicorn_workers}+{self.run_workers}" if self.run_workers else str(self.uvicorn_workers)

    @property
    def label(self) -> str:
        served = f"{self.uvicorn_workers} uvicorn worker{'s' if self.uvicorn_workers > 1 else ''}"
        if not self.run_workers:
            return f"{served}, inline executor"
        return f"{served} + {self.run_workers} runworker{'s' if self.run_workers > 1 else ''}"


@dataclass
class Deployment:
    """The project served as one `Layout`: its base URL and its processes."""

    layout: Layout
    base_url: str
    processes: list[subprocess.Popen]

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self.processes]


@dataclass
class Stack:
    """The environment of the project under test and the processes started for it."""

    database_url: str
    redis_url: str
    log_dir: Path
    settings_module: str
    pinning: Pinning | None = None
    processes: list[subprocess.Popen] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": self.settings_module,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "SECRET_KEY": secrets.token_urlsafe(50),
            "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }

    def start(
        self,
        name: str,
        args: list[str],
        env: dict[str, str] | None = None,
        *,
        measured: bool,
        pipe_stdout: bool = False,
        program: str = PYTHON,
        inherit_env: bool = True,
    ) -> subprocess.Popen:
        """Start `program <args>` (Python by default) with its output in `<log_dir>/<name>.log` (stdout
        piped when asked), pinned to the servers' CPUs when `measured`, else to the clients' ones; its
        environment is the stack's plus `env`, or only `env` without `inherit_env`."""
        log = (self.log_dir / f"{name}.log").open("wb")
        command = [program, *args]
        if self.pinning is not None:
            command = ["taskset", "-c", self.pinning.servers if measured else self.pinning.clients, *command]
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**(self.env if inherit_env else {}), **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if pipe_stdout else log,
            stderr=log,
            start_new_session=True,
        )
        log.close()
        self.processes.append(process)
        return process

    def manage(self, *args: str) -> str:
        """Run a management command against the stack's database; its stdout. (It may wait longer for a
        connection than the servers do: a loaded machine must not end the benchmark before it starts.)"""
        result = subprocess.run(
            [PYTHON, "manage.py", *args],
            cwd=ROOT,
            env={**self.env, "DATABASE_CONNECT_TIMEOUT_SECONDS": str(MANAGE_CONNECT_TIMEOUT_SECONDS)},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-2000:]}")
        return result.stdout.strip()

    def stop(self, process: subprocess.Popen) -> None:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if process.stdout is not None:
            process.stdout.close()
        if process in self.processes:
            self.processes.remove(process)

    def stop_all(self) -> None:
        for process in reversed(list(self.processes)):
            self.stop(process)


def database_recreate(database_url: str) -> None:
    """Drop and create the database named in `database_url` (connected through its `postgres` database)."""
    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    if not name.replace("_", "").isalnum():
        raise ValueError(f"Refusing the database name {name!r}.")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def redis_flush(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        client.flushdb()
    finally:
        client.close()


def wait_ready(
    url: str, process: subprocess.Popen, name: str, log_dir: Path, timeout: float = READY_TIMEOUT_SECONDS
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}; see {log_dir / name}.log")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{name} was not ready within {timeout:.0f} s; see {log_dir / name}.log")


def fake_openai_start(stack: Stack, name: str, *, ttft_ms: float, chunk_delay_ms: float, chunks: int) -> str:
    """Start a fake OpenAI-compatible server; its base URL (ending in /v1)."""
    process = stack.start(
        name,
        [
            "-m",
            "tests.fakes.openai_server",
            "--port",
            "0",
            f"--ttft-ms={ttft_ms}",
            f"--chunk-delay-ms={chunk_delay_ms}",
            f"--chunks={chunks}",
        ],
        measured=False,
        pipe_stdout=True,
    )
    assert process.stdout is not None
    base_url = process.stdout.readline().decode().strip()
    if not base_url.startswith("http"):
        raise RuntimeError(f"{name} did not start; see {stack.log_dir / name}.log")
    wait_ready(f"{base_url}/models", process, name, stack.log_dir)
    return base_url


def server_start(
    stack: Stack, name: str, *, workers: int, env: dict[str, str] | None = None, app: str = ASGI_APP
) -> tuple[str, subprocess.Popen]:
    """Serve the project with uvicorn on a free port; its base URL and process."""
    port = free_port()
    process = stack.start(
        name,
        [
            "-m",
            "uvicorn",
            app,
            "--host=127.0.0.1",
            f"--port={port}",
            f"--workers={workers}",
            "--loop=uvloop",
            "--http=httptools",
            "--no-access-log",
            "--log-level=warning",
            "--backlog=4096",
        ],
        env,
        measured=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    wait_ready(f"{base_url}/readyz", process, name, stack.log_dir)
    return base_url, process


def workers_start(stack: Stack, name: str, count: int, env: dict[str, str]) -> list[subprocess.Popen]:
    return [
        stack.start(f"{name}-runworker-{index}", ["manage.py", "runworker", "runs"], env, measured=True)
        for index in range(count)
    ]


def wait_listening(process: subprocess.Popen, port: int, name: str, log_dir: Path) -> None:
    """Wait until `process` holds a connection to `port` (a runworker listening on the channel layer)."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}; see {log_dir / name}.log")
        with contextlib.suppress(psutil.Error):
            if any(c.raddr and c.raddr.port == port for c in psutil.Process(process.pid).net_connections()):
                return
        time.sleep(0.2)
    raise RuntimeError(f"{name} was not listening within {READY_TIMEOUT_SECONDS} s; see {log_dir / name}.log")


def deployment_start(
    stack: Stack, name: str, layout: Layout, *, app: str = ASGI_APP, env: dict[str, str] | None = None
) -> Deployment:
    """Serve the project as `layout` (the uvicorn server ready, its runworkers started)."""
    env = {**(env or {}), "RUN_EXECUTOR": "worker" if layout.run_workers else "inline"}
    base_url, server = server_start(stack, name, workers=layout.uvicorn_workers, env=env, app=app)
    workers = workers_start(stack, name, layout.run_workers, env)
    redis_port = urlsplit(stack.redis_url).port or 6379
    for index, worker in enumerate(workers):
        wait_listening(worker, redis_port, f"{name}-runworker-{index}", stack.log_dir)
    return Deployment(layout=layout, base_url=base_url, processes=[server, *workers])


def deployment_stop(stack: Stack, deployment: Deployment) -> None:
    for process in reversed(deployment.processes):
        stack.stop(process)


@contextlib.contextmanager
def stack_running(
    database_url: str, redis_url: str, log_dir: Path, settings_module: str, pinning: Pinning | None
) -> Iterator[Stack]:
    """A migrated fresh database, a flushed Redis database, and every started process ended at exit."""
    database_recreate(database_url)
    redis_flush(redis_url)
    stack = Stack(
        database_url=database_url,
        redis_url=redis_url,
        log_dir=log_dir,
        settings_module=settings_module,
        pinning=pinning,
    )
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        stack.manage("migrate", "--noinput")
        yield stack
    finally:
        stack.stop_all()
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
