"""Cube.js over its REST API: `/cubejs-api/v1/meta` for schema and tables, `/cubejs-api/v1/load` for queries.

The token goes in `Authorization` as is (Cube.js expects the raw JWT, no "Bearer"). While Cube.js is still
building a result it answers `{"error": "Continue wait"}`; the query is asked again until the datasource's
timeout. A query without a `limit` (or with one above the row cap) is sent with `limit = max_rows + 1`, so
Cube.js never ships more rows than the caller can keep and `truncated` is still known.
"""

import asyncio
import json
from typing import Any

from orchestrator_studio.http import OutboundError
from registry.connectors.datasources.errors import DatasourceTimeout, InvalidQuery
from registry.connectors.datasources.tabular import max_rows_of, table_from_records
from registry.connectors.datasources.transport import fetch, json_body_of, request_json, status_error
from registry.models import DataSource

LABEL = "Cube.js"
API_PREFIX = "/cubejs-api/v1"
CONTINUE_WAIT = "Continue wait"
POLL_INTERVAL_SECONDS = 0.5
MAX_PROBE_SECONDS = 10.0
QUERY_HELP = (
    'A Cube.js query is a JSON object such as {"measures": ["Orders.count"], "dimensions": ["Orders.status"]}'
    " (or that object as a JSON string)."
)


def _headers(datasource: DataSource) -> dict[str, str]:
    return {"Authorization": datasource.auth_token} if datasource.auth_token else {}


def _endpoint(datasource: DataSource, path: str) -> str:
    """The API path under the datasource URL, whether the URL names the API prefix itself or not."""
    base = datasource.url.rstrip("/")
    if not base.endswith(API_PREFIX):
        base += API_PREFIX
    return base + path


async def probe(datasource: DataSource) -> None:
    await _meta(datasource, min(float(datasource.timeout_seconds), MAX_PROBE_SECONDS))


async def schema(datasource: DataSource) -> dict[str, Any]:
    cubes = await _meta(datasource, float(datasource.timeout_seconds))
    return {
        "tables": [
            {
                "name": cube["name"],
                "columns": [
                    {"name": member["name"], "type": member.get("type", "unknown"), "kind": kind}
                    for kind, members in (
                        ("measure", cube.get("measures")),
                        ("dimension", cube.get("dimensions")),
                    )
                    for member in members or []
                    if isinstance(member, dict) and isinstance(member.get("name"), str)
                ],
            }
            for cube in cubes
        ]
    }


async def tables(datasource: DataSource) -> dict[str, Any]:
    cubes = await _meta(datasource, float(datasource.timeout_seconds))
    return {"tables": [cube["name"] for cube in cubes]}


async def _meta(datasource: DataSource, timeout_seconds: float) -> list[dict[str, Any]]:
    body = await request_json(
        "GET",
        _endpoint(datasource, "/meta"),
        label=LABEL,
        timeout_seconds=timeout_seconds,
        headers=_headers(datasource),
    )
    cubes = body.get("cubes") if isinstance(body, dict) else None
    if not isinstance(cubes, list) or not all(
        isinstance(cube, dict) and isinstance(cube.get("name"), str) for cube in cubes
    ):
        raise OutboundError(f"{LABEL} answered /meta without a list of cubes.", code="upstream_malformed")
    return cubes


def parse_query(query: Any, max_rows: int) -> dict[str, Any] | list[dict[str, Any]]:
    """The Cube.js query object (or list of them, for a blending query) with the row cap as its limit."""
    if isinstance(query, str):
        try:
            query = json.loads(query)
        except ValueError:
            raise InvalidQuery(
                f"The query is not JSON. {QUERY_HELP}", fields={"query": [QUERY_HELP]}
            ) from None
    if isinstance(query, dict):
        return _capped(query, max_rows)
    if isinstance(query, list) and query and all(isinstance(item, dict) for item in query):
        return [_capped(item, max_rows) for item in query]
    raise InvalidQuery(f"The query is not a JSON object. {QUERY_HELP}", fields={"query": [QUERY_HELP]})


def _capped(query: dict[str, Any], max_rows: int) -> dict[str, Any]:
    limit = query.get("limit")
    if isinstance(limit, int) and not isinstance(limit, bool) and 0 < limit <= max_rows:
        return query
    return {**query, "limit": max_rows + 1}


async def query(datasource: DataSource, query: Any, parameters: dict[str, Any] | None) -> dict[str, Any]:
    if parameters:
        raise InvalidQuery(
            "Cube.js queries take no parameters; put the values in the query's filters.",
            fields={"parameters": ["Not supported by Cube.js datasources."]},
        )
    max_rows = max_rows_of(datasource)
    body = await _load(datasource, parse_query(query, max_rows))
    listed = body.get("results")
    results = listed if isinstance(listed, list) else [body]
    records: list[Any] = []
    annotated: list[str] = []
    for result in results:
        data = result.get("data") if isinstance(result, dict) else None
        if not isinstance(data, list):
            raise OutboundError(f"{LABEL} answered /load without a `data` list.", code="upstream_malformed")
        records.extend(data)
        annotated.extend(_annotated_columns(result.get("annotation")))
    # The annotation names the columns even when no row came back.
    columns = list(dict.fromkeys(annotated)) if not records else None
    return table_from_records(records, max_rows, columns)


async def _load(datasource: DataSource, cube_query: Any) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    timeout = float(datasource.timeout_seconds)
    deadline = loop.time() + timeout
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise DatasourceTimeout(
                f"{LABEL} was still preparing the result ('{CONTINUE_WAIT}') after {timeout:g}s."
            )
        response = await fetch(
            "POST",
            _endpoint(datasource, "/load"),
            timeout_seconds=remaining,
            headers=_headers(datasource),
            json_body={"query": cube_query},
        )
        if not response.ok:
            raise status_error(response, LABEL, is_query=True)
        body = json_body_of(response, LABEL)
        if not isinstance(body, dict):
            raise OutboundError(
                f"{LABEL} answered /load with JSON that is not an object.", code="upstream_malformed"
            )
        if body.get("error") == CONTINUE_WAIT:
            await asyncio.sleep(min(POLL_INTERVAL_SECONDS, max(deadline - loop.time(), 0)))
            continue
        if isinstance(body.get("error"), str):
            raise InvalidQuery(f"{LABEL} refused the query: {body['error']}")
        return body


def _annotated_columns(annotation: Any) -> list[str]:
    if not isinstance(annotation, dict):
        return []
    return [
        str(name)
        for group in ("dimensions", "timeDimensions", "measures")
        if isinstance(annotation.get(group), dict)
        for name in annotation[group]
    ]
