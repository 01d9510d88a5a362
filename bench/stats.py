"""Figures from samples: percentiles of durations, and CPU and memory of the server's processes."""

import asyncio
import contextlib
import time
from collections.abc import Iterable, Sequence

import psutil

SAMPLE_SECONDS = 0.25


def percentile(values: Sequence[float], p: float) -> float | None:
    """The p-th percentile (0..100) by linear interpolation between closest ranks; None without values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary_ms(seconds: Sequence[float]) -> dict[str, float | int | None]:
    """Count, p50, p99 and max of durations given in seconds, in milliseconds."""
    return {
        "count": len(seconds),
        "p50_ms": _ms(percentile(seconds, 50)),
        "p99_ms": _ms(percentile(seconds, 99)),
        "max_ms": _ms(max(seconds, default=None)),
    }


def difference_ms(a: dict, b: dict, key: str) -> float | None:
    return None if a[key] is None or b[key] is None else round(a[key] - b[key], 3)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


class ProcessSampler:
    """CPU (percent of one core, averaged over the sampled span, and the peak of one sampling interval)
    and resident memory (peak) of some processes and their children, sampled in the background."""

    def __init__(self, pids: Iterable[int]):
        self.roots = [psutil.Process(pid) for pid in pids]
        self.peak_rss = 0
        self.peak_cpu = 0.0
        self._task: asyncio.Task[None] | None = None
        self._started = 0.0
        self._cpu_start = 0.0

    def _processes(self) -> list[psutil.Process]:
        found = []
        for root in self.roots:
            with contextlib.suppress(psutil.Error):
                found += [root, *root.children(recursive=True)]
        return found

    def _cpu_seconds(self) -> float:
        total = 0.0
        for process in self._processes():
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                total += times.user + times.system
        return total

    def _rss(self) -> int:
        total = 0
        for process in self._processes():
            with contextlib.suppress(psutil.Error):
                total += process.memory_info().rss
        return total

    async def __aenter__(self) -> "ProcessSampler":
        self._started, self._cpu_start = time.monotonic(), self._cpu_seconds()
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self.elapsed = time.monotonic() - self._started
        self.cpu_seconds = self._cpu_seconds() - self._cpu_start
        self.peak_rss = max(self.peak_rss, self._rss())

    async def _sample(self) -> None:
        last_time, last_cpu = self._started, self._cpu_start
        while True:
            await asyncio.sleep(SAMPLE_SECONDS)
            now, cpu = time.monotonic(), self._cpu_seconds()
            self.peak_cpu = max(self.peak_cpu, (cpu - last_cpu) / (now - last_time) * 100)
            last_time, last_cpu = now, cpu
            self.peak_rss = max(self.peak_rss, self._rss())

    def figures(self) -> dict[str, float]:
        return {
            "cpu_seconds": round(self.cpu_seconds, 3),
            "cpu_avg_percent": round(self.cpu_seconds / self.elapsed * 100, 1),
            "cpu_peak_percent": round(self.peak_cpu, 1),
            "rss_peak_mb": round(self.peak_rss / 2**20, 1),
        }
