"""`--profile`: a CPU profile (yappi, every thread) of the measured server's processes for each scenario.

The server then serves `bench.profiled_asgi:application`, which starts profiling on SIGUSR1 and writes the
profile on SIGUSR2 (see that module). Only uvicorn's processes are profiled, never `runworker` processes.
"""

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import psutil

PROFILED_APP = "bench.profiled_asgi:application"
SCENARIO_FILE = ".scenario"
WRITE_TIMEOUT_SECONDS = 60


def _app_processes(server_pid: int) -> list[int]:
    """The processes that loaded the app: uvicorn's spawned workers, or the server itself without any.
    (Signalling anything else would end it: SIGUSR1's default action.)"""
    server = psutil.Process(server_pid)
    workers = [
        child.pid for child in server.children() if any("spawn_main" in part for part in child.cmdline())
    ]
    return workers or [server_pid]


class ServerProfiler:
    """Profiles of one uvicorn server, one per scenario, in `directory`."""

    def __init__(self, directory: Path, server_pid: int) -> None:
        self.directory = directory
        self.server_pid = server_pid
        self.written: list[Path] = []

    @contextlib.asynccontextmanager
    async def scenario(self, name: str) -> AsyncIterator[None]:
        pids = _app_processes(self.server_pid)
        self.directory.mkdir(parents=True, exist_ok=True)
        for pid in pids:
            os.kill(pid, signal.SIGUSR1)
        try:
            yield
        finally:
            (self.directory / SCENARIO_FILE).write_text(name)
            for pid in pids:
                os.kill(pid, signal.SIGUSR2)
            await self._written([self.directory / f"profile-{name}-{pid}.txt" for pid in pids])

    async def _written(self, paths: list[Path]) -> None:
        deadline = time.monotonic() + WRITE_TIMEOUT_SECONDS
        while not all(path.exists() for path in paths) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        self.written += [path for path in paths if path.exists()]
