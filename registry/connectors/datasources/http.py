"""The HTTP datasource: a service speaking the seed's protocol, with the datasource's token as Bearer.

`POST {url}/query {"query", "parameters"}` → `{"data": [objects], "row_count"}`; `GET {url}/schema`,
`{url}/tables` and `{url}/health`. Schema and table answers are accepted in the usual shapes (a list of
tables with columns, or a mapping of table name to columns) and given back in the API's one shape.
"""

from collections.abc import Mapping
from typing import Any

from orchestrator_studio.http import OutboundError
from registry.connectors.datasources.errors import InvalidQuery
from registry.connectors.datasources.tabular import max_rows_of, table_from_records
from registry.connectors.datasources.transport import fetch, json_body_of, request_json, status_error
from registry.models import DataSource

LABEL = "The HTTP datasource"
# A health check answers quickly or the service is not healthy, whatever its query timeout.
MAX_PROBE_SECONDS = 10.0
UNHEALTHY_STATUSES = {"error", "down", "unhealthy", "fail", "failed", "failing"}


def _headers(datasource: DataSource) -> dict[str, str]:
    return {"Authorization": f"Bearer {datasource.auth_token}"} if datasource.auth_token else {}


def _url(datasource: DataSource, path: str) -> str:
    return datasource.url.rstrip("/") + path


async def probe(datasource: DataSource) -> None:
    response = await fetch(
        "GET",
        _url(datasource, "/health"),
        timeout_seconds=min(float(datasource.timeout_seconds), MAX_PROBE_SECONDS),
        headers=_headers(datasource),
    )
    if not response.ok:
        raise status_error(response, LABEL, is_query=False)
    if response.is_json:
        body = json_body_of(response, LABEL)
        status = body.get("status") if isinstance(body, dict) else None
        if isinstance(status, str) and status.lower() in UNHEALTHY_STATUSES:
            raise OutboundError(f"{LABEL} reports its status as {status!r}.", code="upstream_unhealthy")


async def query(datasource: DataSource, query: Any, parameters: dict[str, Any] | None) -> dict[str, Any]:
    if query is None or (isinstance(query, str) and not query.strip()):
        raise InvalidQuery("The query is empty.", fields={"query": ["Send a query."]})
    body = await request_json(
        "POST",
        _url(datasource, "/query"),
        label=LABEL,
        timeout_seconds=float(datasource.timeout_seconds),
        headers=_headers(datasource),
        json_body={"query": query, "parameters": parameters or {}},
        is_query=True,
    )
    if not isinstance(body, dict):
        raise OutboundError(f"{LABEL} answered with JSON that is not an object.", code="upstream_malformed")
    data = body.get("data", body.get("rows"))
    if data is None and isinstance(body.get("error"), str):
        raise InvalidQuery(f"{LABEL} refused the query: {body['error']}")
    if not isinstance(data, list):
        raise OutboundError(f"{LABEL} answered without a `data` list.", code="upstream_malformed")
    columns = body.get("columns")
    result = table_from_records(data, max_rows_of(datasource), columns if isinstance(columns, list) else None)
    reported = body.get("row_count")
    if isinstance(reported, int) and not isinstance(reported, bool) and reported > result["row_count"]:
        result["truncated"] = True
    return result


async def schema(datasource: DataSource) -> dict[str, Any]:
    body = await _get(datasource, "/schema")
    tables = body.get("tables", body) if isinstance(body, dict) else body
    if isinstance(tables, Mapping):
        return {"tables": [_table(name, columns) for name, columns in tables.items()]}
    if isinstance(tables, list) and all(isinstance(item, Mapping) and "name" in item for item in tables):
        return {"tables": [_table(item["name"], item.get("columns", [])) for item in tables]}
    raise OutboundError(f"{LABEL} answered /schema without a list of tables.", code="upstream_malformed")


async def tables(datasource: DataSource) -> dict[str, Any]:
    body = await _get(datasource, "/tables")
    items = body.get("tables") if isinstance(body, dict) else body
    if isinstance(items, list):
        names = [item.get("name") if isinstance(item, Mapping) else item for item in items]
        if all(isinstance(name, str) for name in names):
            return {"tables": names}
    raise OutboundError(f"{LABEL} answered /tables without a list of table names.", code="upstream_malformed")


async def _get(datasource: DataSource, path: str) -> Any:
    return await request_json(
        "GET",
        _url(datasource, path),
        label=LABEL,
        timeout_seconds=float(datasource.timeout_seconds),
        headers=_headers(datasource),
    )


def _table(name: Any, columns: Any) -> dict[str, Any]:
    if isinstance(columns, Mapping):
        columns = [{"name": key, "type": value} for key, value in columns.items()]
    shaped = []
    for column in columns if isinstance(columns, list) else []:
        if isinstance(column, Mapping):
            shaped.append({"name": str(column.get("name", "")), "type": str(column.get("type") or "unknown")})
        else:
            shaped.append({"name": str(column), "type": "unknown"})
    return {"name": str(name), "columns": shaped}
