"""Datasources: test, query and describe a registered PostgreSQL, Cube.js or HTTP datasource.

The API, the admin, the run engine and monitoring all call these functions. A query answers
`{"columns", "rows", "row_count", "truncated", "latency_ms"}` or raises a `DomainError` whose message says
what went wrong (400 for a bad query, 502 for a failing datasource, 504 when it did not answer in time)
and never holds a secret of the datasource. Schema and table lookups are cached for `CACHE_TTL_SECONDS`.
"""

import asyncio
import logging
import time
import traceback
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache

from orchestrator_studio.errors import DomainError, ValidationFailed
from orchestrator_studio.http import OutboundError
from orchestrator_studio.timing import elapsed_ms
from registry.connectors.datasources import cubejs, http, postgres
from registry.connectors.datasources.errors import scrubbed, secrets_of
from registry.connectors.results import ProbeResult
from registry.connectors.scrub import scrub, scrub_json
from registry.models import DataSource, DataSourceType

__all__ = [
    "datasource_probe",
    "datasource_query",
    "datasource_schema",
    "datasource_tables",
    "datasources_health",
]

logger = logging.getLogger(__name__)

BACKENDS: dict[str, ModuleType] = {
    DataSourceType.POSTGRES: postgres,
    DataSourceType.CUBEJS: cubejs,
    DataSourceType.HTTP: http,
}
HEALTH_CONCURRENCY = 16


def _backend(datasource: DataSource) -> ModuleType:
    backend = BACKENDS.get(datasource.type)
    if backend is None:
        raise ValidationFailed(f"Datasource {datasource.name!r} has an unknown type {datasource.type!r}.")
    return backend


async def _guarded(datasource: DataSource, action: str, call: Awaitable[Any]) -> Any:
    """Await `call`: a `DomainError` leaves with the datasource's secrets masked, anything unexpected as an
    `OutboundError` (logged, masked too), so no caller ever turns a datasource failure into a 500."""
    try:
        return await call
    except DomainError as exc:
        scrubbed(exc, datasource)
        raise
    except Exception as exc:
        details = scrub("".join(traceback.format_exception(exc)), secrets_of(datasource))
        logger.error("Datasource %s: %s failed unexpectedly\n%s", datasource.name, action, details)
        raise OutboundError(
            f"The datasource {datasource.name!r} failed unexpectedly during {action} ({type(exc).__name__})."
        ) from None


async def datasource_probe(datasource: DataSource) -> ProbeResult:
    """Is the datasource reachable and answering? Never raises."""
    started = time.perf_counter()
    try:
        await _guarded(datasource, "the connection test", _backend(datasource).probe(datasource))
    except DomainError as exc:
        logger.info("Datasource %s: test failed: %s", datasource.name, exc.message)
        return ProbeResult(ok=False, latency_ms=elapsed_ms(started), error=exc.message)
    return ProbeResult(ok=True, latency_ms=elapsed_ms(started))


async def datasource_query(
    datasource: DataSource, query: Any, parameters: dict[str, Any] | None = None
) -> dict:
    """Run one read-only query; `{"columns", "rows", "row_count", "truncated", "latency_ms"}`."""
    if parameters is not None and not isinstance(parameters, dict):
        raise ValidationFailed(
            "Query parameters must be a JSON object.", fields={"parameters": ["Must be a JSON object."]}
        )
    started = time.perf_counter()
    try:
        result = await _guarded(
            datasource, "the query", _backend(datasource).query(datasource, query, parameters)
        )
    except DomainError as exc:
        logger.info("Datasource %s: query failed (%s): %s", datasource.name, exc.code, exc.message)
        raise
    result["latency_ms"] = elapsed_ms(started)
    logger.info(
        "Datasource %s: query returned %d rows%s in %.1f ms",
        datasource.name,
        result["row_count"],
        " (truncated)" if result["truncated"] else "",
        result["latency_ms"],
    )
    return result


async def datasource_schema(datasource: DataSource) -> dict:
    """`{"tables": [{"name", "columns": [{"name", "type"}]}]}`, cached."""
    return await _cached(datasource, "schema", _backend(datasource).schema)


async def datasource_tables(datasource: DataSource) -> dict:
    """`{"tables": [names]}`, cached."""
    return await _cached(datasource, "tables", _backend(datasource).tables)


async def _cached(
    datasource: DataSource, lookup: str, load: Callable[[DataSource], Awaitable[dict[str, Any]]]
) -> dict[str, Any]:
    """A read-only lookup through the cache, with the datasource's secrets masked; the key changes whenever
    the datasource is saved. A failing cache (Redis down) costs only the caching, never the lookup."""
    key = None
    if datasource.pk is not None and datasource.updated_at is not None:
        key = f"datasource:{lookup}:{datasource.name}:{datasource.pk}:{datasource.updated_at.timestamp()}"
        try:
            hit = await cache.aget(key)
        except Exception as exc:
            logger.warning("Cache read for datasource %s failed: %s", datasource.name, type(exc).__name__)
            hit = None
        if hit is not None:
            return hit
    # Scrubbed before it is cached or shown: a service may echo the credentials it was sent.
    value = scrub_json(
        await _guarded(datasource, f"the {lookup} lookup", load(datasource)), secrets_of(datasource)
    )
    if key is not None:
        try:
            await cache.aset(key, value, settings.CACHE_TTL_SECONDS)
        except Exception as exc:
            logger.warning("Cache write for datasource %s failed: %s", datasource.name, type(exc).__name__)
    return value


def _enabled_datasources() -> list[DataSource]:
    return list(DataSource.objects.filter(enabled=True).order_by("name"))


async def datasources_health() -> dict:
    """Probe every enabled datasource concurrently: `{"total", "healthy", "datasources": [...]}`."""
    datasources = await sync_to_async(_enabled_datasources)()
    limit = asyncio.Semaphore(HEALTH_CONCURRENCY)

    async def probe(datasource: DataSource) -> dict[str, Any]:
        async with limit:
            result = await datasource_probe(datasource)
        return {"name": datasource.name, "type": datasource.type, **result.as_dict()}

    entries = list(await asyncio.gather(*(probe(datasource) for datasource in datasources)))
    return {
        "total": len(entries),
        "healthy": sum(1 for entry in entries if entry["ok"]),
        "datasources": entries,
    }
