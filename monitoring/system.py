"""Host and process figures from psutil, sampled without waiting.

CPU use is the difference between two readings of the CPU times: the one taken now and the previous one
(taken at start-up by `prime()`, then by earlier requests), never a blocking `interval=` sample. A reading is
reused for MIN_SAMPLE_SECONDS so that requests close together still get a meaningful figure. (psutil's own
`cpu_percent()` keeps its previous reading per thread, which gives 0.0 to each new server thread.)
"""

import os
import threading
import time
from typing import Any

import psutil
from django.conf import settings

MIN_SAMPLE_SECONDS = 1.0


def _busy_and_total(times: Any) -> tuple[float, float]:
    total = sum(times)
    # On Linux guest time is already counted in user and nice time.
    total -= getattr(times, "guest", 0.0) + getattr(times, "guest_nice", 0.0)
    idle = times.idle + getattr(times, "iowait", 0.0)
    return total - idle, total


class CpuSampler:
    """CPU percent of the host and of this process over the time since the previous reading."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.process = psutil.Process()
        self._lock = threading.Lock()
        self._system_percent = 0.0
        self._process_percent = 0.0
        self._read_at, self._system_times, self._process_seconds = self._reading()

    def _reading(self) -> tuple[float, Any, float]:
        process_times = self.process.cpu_times()
        return time.monotonic(), psutil.cpu_times(), process_times.user + process_times.system

    def percents(self) -> tuple[float, float]:
        with self._lock:
            if time.monotonic() - self._read_at >= MIN_SAMPLE_SECONDS:
                read_at, system_times, process_seconds = self._reading()
                busy_before, total_before = _busy_and_total(self._system_times)
                busy_now, total_now = _busy_and_total(system_times)
                if total_now > total_before:
                    share = (busy_now - busy_before) / (total_now - total_before)
                    self._system_percent = round(min(max(share * 100, 0.0), 100.0), 1)
                wall = read_at - self._read_at
                self._process_percent = round(
                    max(process_seconds - self._process_seconds, 0.0) / wall * 100, 1
                )
                self._read_at, self._system_times, self._process_seconds = (
                    read_at,
                    system_times,
                    process_seconds,
                )
            return self._system_percent, self._process_percent


_lock = threading.Lock()
_sampler: CpuSampler | None = None


def _cpu_sampler() -> CpuSampler:
    global _sampler
    with _lock:
        if _sampler is None or _sampler.pid != os.getpid():
            _sampler = CpuSampler()
        return _sampler


def prime() -> None:
    _cpu_sampler()


def _safe(read: Any) -> Any:
    try:
        return read()
    except (psutil.Error, OSError):
        return None


def system_figures() -> dict[str, Any]:
    memory = psutil.virtual_memory()
    disk = psutil.disk_usage(str(settings.BASE_DIR))
    load = _safe(psutil.getloadavg)
    system_percent, _ = _cpu_sampler().percents()
    return {
        "cpu": {
            "percent": system_percent,
            "count": psutil.cpu_count(),
            "load_average": [round(value, 2) for value in load] if load else None,
        },
        "memory": {
            "total_bytes": memory.total,
            "available_bytes": memory.available,
            "used_bytes": memory.used,
            "percent": memory.percent,
        },
        "disk": {
            "total_bytes": disk.total,
            "used_bytes": disk.used,
            "free_bytes": disk.free,
            "percent": disk.percent,
        },
    }


def process_figures() -> dict[str, Any]:
    sampler = _cpu_sampler()
    _, process_percent = sampler.percents()
    process = sampler.process
    with process.oneshot():
        open_files = _safe(process.open_files)
        connections = _safe(process.net_connections)
        return {
            "pid": process.pid,
            "cpu_percent": process_percent,
            "rss_bytes": process.memory_info().rss,
            "threads": process.num_threads(),
            "open_files": len(open_files) if open_files is not None else None,
            "file_descriptors": _safe(process.num_fds),
            "connections": len(connections) if connections is not None else None,
            "uptime_seconds": round(time.time() - process.create_time(), 1),
        }


def process_started_at() -> float:
    return _cpu_sampler().process.create_time()
