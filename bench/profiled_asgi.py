"""The project's ASGI application, profiled on demand by pyinstrument (`python -m bench --profile`).

Served by uvicorn instead of `orchestrator_studio.asgi:application`, it installs two signal handlers in
every process that loads it (each uvicorn worker): SIGUSR1 starts profiling the main thread, which runs the
event loop and so every request, websocket and inline run; SIGUSR2 stops and writes the profile to
`$BENCH_PROFILE_DIR/profile-<name>-<pid>.txt` and `.html`, `<name>` being the content of
`$BENCH_PROFILE_DIR/.scenario` (written by the bench before it signals). Wall time is sampled, so the time
the loop waits for work shows as the loop's own time at the root of the tree.
"""

import os
import signal
import threading
from pathlib import Path
from types import FrameType

from pyinstrument import Profiler

from bench.profiling import SCENARIO_FILE
from orchestrator_studio.asgi import application

__all__ = ["application"]

_profiler: Profiler | None = None


def _directory() -> Path:
    return Path(os.environ["BENCH_PROFILE_DIR"])


def _start(signum: int, frame: FrameType | None) -> None:
    global _profiler
    if _profiler is None:
        _profiler = Profiler(async_mode="disabled")
        _profiler.start()


def _stop(signum: int, frame: FrameType | None) -> None:
    global _profiler
    if _profiler is None:
        return
    profiler, _profiler = _profiler, None
    profiler.stop()
    directory = _directory()
    name = (directory / SCENARIO_FILE).read_text().strip()
    stem = directory / f"profile-{name}-{os.getpid()}"
    stem.with_suffix(".html").write_text(profiler.output_html())
    # Written last and renamed into place: the bench waits for the .txt file.
    partial = stem.with_suffix(".txt.partial")
    partial.write_text(profiler.output_text(unicode=True, show_all=False))
    partial.rename(stem.with_suffix(".txt"))


if threading.current_thread() is threading.main_thread():
    signal.signal(signal.SIGUSR1, _start)
    signal.signal(signal.SIGUSR2, _stop)
