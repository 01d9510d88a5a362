"""Latency as the API reports it."""

import time


def elapsed_ms(started: float) -> float:
    """Milliseconds since `started` (a `time.perf_counter()` reading), to a tenth."""
    return round((time.perf_counter() - started) * 1000, 1)
