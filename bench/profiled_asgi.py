"""The project's ASGI application, profiled on demand by yappi (`python -m bench --profile`).

Served by uvicorn instead of `orchestrator_studio.asgi:application`, it installs two signal handlers in
every process that loads it (each uvicorn worker): SIGUSR1 starts profiling, SIGUSR2 stops and writes the
profile to `$BENCH_PROFILE_DIR/profile-<name>-<pid>.pstat` (for `python -m pstats` or snakeviz) and
`.txt` (the functions that took the most CPU, with what they called and on their own), `<name>` being the
content of `$BENCH_PROFILE_DIR/.scenario` (written by the bench before it signals).

CPU time, not wall time, of every thread of the process: the event loop (requests, websockets, inline
runs) and the threads database steps run on (`sync_to_async`, the event writer, the pooled request
threads). Time spent waiting (on Postgres, Redis, the LLM) is not in it. The profiler slows the functions
it measures, small ones the most: read shares, not absolute figures.
"""

import io
import os
import pstats
import signal
import threading
from pathlib import Path
from types import FrameType

import yappi

from bench.profiling import SCENARIO_FILE
from orchestrator_studio.asgi import application

__all__ = ["application"]

TOP_CUMULATIVE = 80
TOP_OWN = 40

_profiling = False


def _directory() -> Path:
    return Path(os.environ["BENCH_PROFILE_DIR"])


def _start(signum: int, frame: FrameType | None) -> None:
    global _profiling
    if not _profiling:
        _profiling = True
        yappi.clear_stats()
        yappi.set_clock_type("cpu")
        yappi.start(builtins=False, profile_threads=True)


def _report(stats: pstats.Stats) -> str:
    out = io.StringIO()
    stats.stream = out  # type: ignore[attr-defined]
    out.write(f"CPU seconds profiled (all threads): {stats.total_tt:.2f}\n\n")  # type: ignore[attr-defined]
    stats.sort_stats("cumulative").print_stats(TOP_CUMULATIVE)
    stats.sort_stats("tottime").print_stats(TOP_OWN)
    return out.getvalue()


def _stop(signum: int, frame: FrameType | None) -> None:
    global _profiling
    if not _profiling:
        return
    _profiling = False
    yappi.stop()
    directory = _directory()
    name = (directory / SCENARIO_FILE).read_text().strip()
    stem = directory / f"profile-{name}-{os.getpid()}"
    yappi.get_func_stats().save(str(stem.with_suffix(".pstat")), type="pstat")
    report = _report(pstats.Stats(str(stem.with_suffix(".pstat"))))
    # Written last and renamed into place: the bench waits for the .txt file.
    partial = stem.with_suffix(".txt.partial")
    partial.write_text(report)
    partial.rename(stem.with_suffix(".txt"))


if threading.current_thread() is threading.main_thread():
    signal.signal(signal.SIGUSR1, _start)
    signal.signal(signal.SIGUSR2, _stop)
