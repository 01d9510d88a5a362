"""Health of the service's own dependencies, and connectivity of every registered outside system.

All checks are coroutines run concurrently, each bounded by a timeout; database and cache work goes through
`sync_to_async`, so nothing here blocks the event loop.
"""

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.db import connections

from monitoring.scrub import scrub_secrets
from orchestrator_studio.timing import elapsed_ms

COMPONENT_TIMEOUT_SECONDS = 5.0
MAX_ERROR_CHARS = 300
HEALTH_LLM_CACHE_KEY = "monitoring:health:llm:{pk}:{updated}"
CONNECTIVITY_CONCURRENCY = 32
CANCEL_GRACE_SECONDS = 1.0
# Components without which the service cannot serve at all (see `readiness`); any other failing
# component only degrades it.
ESSENTIAL_COMPONENTS = ("database", "channel_layer")


@dataclass
class CheckResult:
    ok: bool
    latency_ms: float
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"ok": self.ok, "latency_ms": self.latency_ms}
        if self.error is not None:
            data["error"] = self.error
        return data


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "Timed out."
    # Driver messages can quote connection strings: scrubbed, and cut to a sentence's length.
    detail = scrub_secrets(str(exc)).strip().splitlines()
    return f"{type(exc).__name__}: {detail[0][:MAX_ERROR_CHARS]}" if detail else f"{type(exc).__name__}."


async def _timed(check: Callable[[], Awaitable[None]], limit_seconds: float) -> CheckResult:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(check(), limit_seconds)
    except Exception as exc:
        return CheckResult(ok=False, latency_ms=elapsed_ms(started), error=_describe(exc))
    return CheckResult(ok=True, latency_ms=elapsed_ms(started))


def _database_round_trip() -> None:
    # A connection of its own, outside any pool: the check proves a new connection can be made now, and
    # leaves the caller's connection (and any transaction on it) alone.
    default = connections["default"]
    settings_dict = {
        **default.settings_dict,
        "OPTIONS": {k: v for k, v in default.settings_dict.get("OPTIONS", {}).items() if k != "pool"},
    }
    connection = type(default)(settings_dict, alias="monitoring-health")
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        connection.close()


async def _channel_layer_round_trip() -> None:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    token = uuid.uuid4().hex
    await layer.send(channel, {"type": "monitoring.ping", "token": token})
    message = await layer.receive(channel)
    if message.get("token") != token:
        raise RuntimeError("The channel layer returned another message.")


def _cache_round_trip() -> None:
    key, value = f"monitoring:health:{uuid.uuid4().hex}", uuid.uuid4().hex
    cache.set(key, value, timeout=30)
    try:
        if cache.get(key) != value:
            raise RuntimeError("The cache returned another value.")
    finally:
        cache.delete(key)


def _default_llm_config() -> Any:
    from registry.selectors import llm_config_default

    return llm_config_default()


async def _probe(entry: Any, limit_seconds: float) -> CheckResult:
    from registry.connectors.probes import probe_entry

    started = time.perf_counter()
    try:
        result = await asyncio.wait_for(probe_entry(entry), limit_seconds)
    except Exception as exc:
        return CheckResult(ok=False, latency_ms=elapsed_ms(started), error=_describe(exc))
    return CheckResult(ok=bool(result.ok), latency_ms=float(result.latency_ms), error=result.error)


async def _llm_health() -> dict[str, Any]:
    """A cheap probe of the default LLM config, cached for HEALTH_CACHE_SECONDS (editing it resets that)."""
    try:
        config = await sync_to_async(_default_llm_config)()
    except Exception as exc:
        return CheckResult(ok=False, latency_ms=0.0, error=_describe(exc)).as_dict()
    key = HEALTH_LLM_CACHE_KEY.format(pk=config.pk, updated=config.updated_at.timestamp())
    try:
        cached = await sync_to_async(cache.get)(key)
    except Exception:
        cached = None
    if cached is None:
        result = await _probe(config, min(COMPONENT_TIMEOUT_SECONDS, config.timeout_seconds))
        cached = {**result.as_dict(), "name": config.name, "model": config.model}
        # An unusable cache is reported by its own component; the probe's answer stands without it.
        with contextlib.suppress(Exception):
            await sync_to_async(cache.set)(key, cached, timeout=settings.HEALTH_CACHE_SECONDS)
    return cached


async def _bounded(report: Awaitable[dict[str, Any]], limit_seconds: float) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        return await asyncio.wait_for(report, limit_seconds)
    except TimeoutError:
        return CheckResult(ok=False, latency_ms=elapsed_ms(started), error="Timed out.").as_dict()


async def readiness() -> dict[str, CheckResult]:
    """The components without which the service cannot serve (`/readyz` and the health's `down`)."""
    database, channel_layer = await asyncio.gather(
        _timed(sync_to_async(_database_round_trip, thread_sensitive=False), COMPONENT_TIMEOUT_SECONDS),
        _timed(_channel_layer_round_trip, COMPONENT_TIMEOUT_SECONDS),
    )
    return {"database": database, "channel_layer": channel_layer}


async def health() -> dict[str, Any]:
    """`{"status": "ok"|"degraded"|"down", "components": {name: {"ok", "latency_ms", "error"?}}}`."""
    essentials, cache_result, llm = await asyncio.gather(
        readiness(),
        _timed(sync_to_async(_cache_round_trip, thread_sensitive=False), COMPONENT_TIMEOUT_SECONDS),
        _bounded(_llm_health(), COMPONENT_TIMEOUT_SECONDS + 1),
    )
    components = {
        "database": {**essentials["database"].as_dict(), "backend": connections["default"].vendor},
        "channel_layer": {
            **essentials["channel_layer"].as_dict(),
            "backend": backend_name(settings.CHANNEL_LAYERS),
        },
        "cache": {**cache_result.as_dict(), "backend": backend_name(settings.CACHES)},
        "llm": llm,
    }
    if not all(components[name]["ok"] for name in ESSENTIAL_COMPONENTS):
        status = "down"
    elif not all(component["ok"] for component in components.values()):
        status = "degraded"
    else:
        status = "ok"
    return {"status": status, "components": components}


def backend_name(config: dict[str, dict[str, Any]]) -> str:
    """The class name of the default backend of a CHANNEL_LAYERS/CACHES setting; never its location."""
    return str(config["default"]["BACKEND"]).rsplit(".", 1)[-1]


def _enabled_entries() -> dict[str, list[Any]]:
    from registry.models import DataSource, ExternalAgent, LLMConfig, Tool
    from registry.tool_types import ToolType

    return {
        "llm_configs": list(LLMConfig.objects.filter(enabled=True).order_by("name")),
        "agents": list(ExternalAgent.objects.filter(enabled=True).order_by("name")),
        "datasources": list(DataSource.objects.filter(enabled=True).order_by("name")),
        "mcp_servers": list(Tool.objects.filter(enabled=True, type=ToolType.MCP).order_by("name")),
    }


def _timeout_of(entry: Any) -> float:
    if hasattr(entry, "timeout_seconds"):
        return float(entry.timeout_seconds)
    from registry.connectors.tools import tool_timeout

    return tool_timeout(entry)


async def connectivity() -> dict[str, Any]:
    """Probe every enabled LLM config, agent, datasource and MCP tool server at once, each within its own
    timeout.

    The whole call ends within CONNECTIVITY_TIMEOUT_SECONDS: an entry still unanswered then is reported
    as timed out.
    """
    overall = settings.CONNECTIVITY_TIMEOUT_SECONDS
    entries = await sync_to_async(_enabled_entries)()
    limit = asyncio.Semaphore(CONNECTIVITY_CONCURRENCY)

    async def probe(entry: Any) -> CheckResult:
        async with limit:
            return await _probe(entry, min(_timeout_of(entry), overall))

    tasks = {
        (group, index): asyncio.ensure_future(probe(entry))
        for group, members in entries.items()
        for index, entry in enumerate(members)
    }
    if tasks:
        _, pending = await asyncio.wait(tasks.values(), timeout=overall)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=CANCEL_GRACE_SECONDS)
    report: dict[str, Any] = {}
    for group, members in entries.items():
        report[group] = []
        for index, entry in enumerate(members):
            task = tasks[(group, index)]
            if task.done() and not task.cancelled():
                result = task.result()
            else:
                result = CheckResult(ok=False, latency_ms=round(overall * 1000, 1), error="Timed out.")
            report[group].append({"name": entry.name, **_kind(entry), **result.as_dict()})
    checked = len(tasks)
    failed = sum(1 for group in entries for item in report[group] if not item["ok"])
    return {"status": "ok" if failed == 0 else "degraded", "checked": checked, "failed": failed, **report}


def _kind(entry: Any) -> dict[str, str]:
    if hasattr(entry, "type"):
        return {"type": str(entry.type)}
    if hasattr(entry, "model"):
        return {"model": str(entry.model)}
    if hasattr(entry, "protocol"):
        return {"protocol": str(entry.protocol)}
    return {}
