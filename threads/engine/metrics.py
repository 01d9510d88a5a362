"""How the engine reports what runs do: a tiny interface the engine owns.

Which recorder implements it is the setting `RUN_METRICS` (the dotted path of an object with these methods;
monitoring's by default), so the engine never imports the code that keeps the figures.
"""

import functools
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string


class RunMetrics(Protocol):
    def run_started(self) -> None: ...

    def run_finished(
        self,
        *,
        status: str,
        model: str,
        duration_seconds: float,
        ttft_seconds: float | None,
        prompt_tokens: int,
        completion_tokens: int,
    ) -> None: ...

    def tool_call(self, *, kind: str, ok: bool, latency_seconds: float) -> None: ...

    def run_cost(self, *, model: str, cost_usd: float | None) -> None: ...

    def llm_cache_lookup(self, *, hit: bool) -> None: ...


@functools.cache
def run_metrics() -> RunMetrics:
    recorder: RunMetrics = import_string(settings.RUN_METRICS)
    return recorder
