"""PostgreSQL with psycopg 3 (async). The queries come from the LLM, so nothing sent here may write.

Every call opens one connection and closes it. Its one transaction is `BEGIN READ ONLY`, and its first
statement sets a transaction-local `statement_timeout`: once a statement has run, Postgres refuses to make
the transaction read-write ("transaction read-write mode must be set before any query"). The caller's SQL
then goes through the extended query protocol (`cursor.stream`), which refuses more than one statement, so
`COMMIT; DELETE ...` cannot end the read-only transaction and write in another. It must also start with a
reading keyword (SELECT, WITH, VALUES, TABLE, SHOW, EXPLAIN), because a read-only transaction still lets a
privileged role run `COPY ... TO '<file>'`, `CHECKPOINT` or `LOAD`. A privileged role itself (superuser,
server file access, signalling) is refused before anything runs, and server-admin functions are refused in
the SQL (`postgres_guard`).

Parameters are bound by psycopg (`%(name)s` placeholders), never formatted into the SQL. Rows are streamed
one by one and reading stops after `max_rows + 1` rows or `max_result_bytes` of JSON (the query is then
cancelled), a value over `max_value_bytes` is cut, so a huge result costs neither memory nor time.
"""

import asyncio
import contextlib
import re
from collections.abc import AsyncGenerator, Mapping
from typing import Any, cast

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb

from orchestrator_studio.egress import EgressRefused, egress_check_host
from orchestrator_studio.errors import DomainError
from orchestrator_studio.http import OutboundError
from registry.connectors.datasources.errors import DatasourceTimeout, InvalidQuery
from registry.connectors.datasources.postgres_guard import block_comment_end, function_check, role_check
from registry.connectors.datasources.tabular import ResultCaps, capped_row, max_rows_of, result_caps_of, table
from registry.models import DataSource

DEFAULT_SCHEMA = "public"
DEFAULT_PORT = 5432
MAX_CONNECT_SECONDS = 10
# Past the statement timeout, so Postgres cancels a slow query (with its own clear message) before we give up.
DEADLINE_GRACE_SECONDS = 2.0
MAX_CATALOGUE_ROWS = 50_000
APPLICATION_NAME = "orchestrator-studio"

# SQLSTATE classes that mean "the query is wrong" (400); every other failure is the database's (502).
CALLER_ERROR_CLASSES = {
    "0A", "21", "22", "23", "25", "26", "27", "2B", "2F", "34", "38", "39", "3B", "3D", "3F", "42", "44",
    "54", "P0",
}  # fmt: skip
READING_KEYWORDS = ("SELECT", "WITH", "VALUES", "TABLE", "SHOW", "EXPLAIN")
NO_RESULT_MESSAGE = "didn't produce a result"
MULTIPLE_STATEMENTS_MESSAGE = "cannot insert multiple commands into a prepared statement"

COLUMNS_SQL = """
    SELECT c.table_name, c.column_name, c.data_type, c.udt_name
    FROM information_schema.columns AS c
    WHERE c.table_schema = %(schema)s
    ORDER BY c.table_name, c.ordinal_position
"""
TABLES_SQL = """
    SELECT t.table_name
    FROM information_schema.tables AS t
    WHERE t.table_schema = %(schema)s
    ORDER BY t.table_name
"""

Rows = list[list[Any]]
_KEYWORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


async def probe(datasource: DataSource) -> None:
    await _run(datasource, "SELECT 1", None, max_rows=1)


async def query(datasource: DataSource, query: Any, parameters: dict[str, Any] | None) -> dict[str, Any]:
    if not isinstance(query, str) or not query.strip():
        raise InvalidQuery(
            "A postgres query is one SQL statement, as a string.",
            fields={"query": ["Send one SQL statement as a string."]},
        )
    keyword = first_keyword(query)
    if keyword not in READING_KEYWORDS:
        raise InvalidQuery(
            f"Only queries that read can run here: start with {', '.join(READING_KEYWORDS)} "
            f"(got {keyword or 'no SQL keyword'}).",
            code="read_only_violation",
        )
    function_check(query)
    max_rows = max_rows_of(datasource)
    columns, rows, cut = await _run(datasource, query, _bound(parameters), max_rows)
    result = table(columns, rows, max_rows)
    result["truncated"] = result["truncated"] or cut
    return result


async def schema(datasource: DataSource) -> dict[str, Any]:
    _, rows, _ = await _run(datasource, COLUMNS_SQL, {"schema": _schema_name(datasource)}, MAX_CATALOGUE_ROWS)
    tables: dict[str, list[dict[str, str]]] = {}
    for table_name, column_name, data_type, udt_name in rows:
        tables.setdefault(table_name, []).append(
            {"name": column_name, "type": _type_name(data_type, udt_name)}
        )
    return {"tables": [{"name": name, "columns": columns} for name, columns in tables.items()]}


async def tables(datasource: DataSource) -> dict[str, Any]:
    _, rows, _ = await _run(datasource, TABLES_SQL, {"schema": _schema_name(datasource)}, MAX_CATALOGUE_ROWS)
    return {"tables": [name for (name,) in rows]}


def first_keyword(sql: str) -> str:
    """The statement's first keyword, upper-cased, past whitespace, opening parentheses and comments.

    Block comments nest in PostgreSQL, so they are counted here too: the keyword found is the one the
    server will see.
    """
    position, length = 0, len(sql)
    while position < length:
        if sql[position].isspace() or sql[position] == "(":
            position += 1
        elif sql.startswith("--", position):
            end = sql.find("\n", position)
            position = length if end == -1 else end + 1
        elif sql.startswith("/*", position):
            position = block_comment_end(sql, position)
        else:
            break
    match = _KEYWORD.match(sql, position)
    return match.group(0).upper() if match else ""


def _schema_name(datasource: DataSource) -> str:
    name = (datasource.config or {}).get("schema")
    return name if isinstance(name, str) and name else DEFAULT_SCHEMA


def _type_name(data_type: str, udt_name: str) -> str:
    if data_type == "ARRAY":
        return udt_name.removeprefix("_") + "[]"
    if data_type == "USER-DEFINED":
        return udt_name
    return data_type


def _bound(parameters: dict[str, Any] | None) -> dict[str, Any] | None:
    """Parameters psycopg can bind: JSON objects (and lists holding them) go as jsonb.

    None when there are none, so a query without placeholders may use `%` freely (e.g. `LIKE 'a%'`).
    """
    if not parameters:
        return None
    return {
        str(name): Jsonb(value)
        if isinstance(value, Mapping)
        or (isinstance(value, list) and any(isinstance(v, Mapping) for v in value))
        else value
        for name, value in parameters.items()
    }


async def _run(
    datasource: DataSource, statement: str, parameters: dict[str, Any] | None, max_rows: int
) -> tuple[list[str], Rows, bool]:
    """(column names, at most `max_rows + 1` JSON-safe rows, whether the size caps cut the result) of one
    read-only statement, run as a role that passed the role check; DomainError on failure."""
    timeout = float(datasource.timeout_seconds)
    try:
        async with asyncio.timeout(timeout + DEADLINE_GRACE_SECONDS):
            connection = await _connect(datasource, timeout)
            try:
                return await _read_only(connection, datasource, statement, parameters, max_rows)
            finally:
                await connection.close()
    except TimeoutError as exc:
        raise DatasourceTimeout(f"No answer from the database within {timeout:g}s.") from exc
    except psycopg.Error as exc:
        raise _domain_error(exc, timeout) from exc


async def _read_only(
    connection: psycopg.AsyncConnection[Any],
    datasource: DataSource,
    statement: str,
    parameters: dict[str, Any] | None,
    max_rows: int,
) -> tuple[list[str], Rows, bool]:
    await connection.set_read_only(True)
    async with connection.cursor() as cursor:
        # The transaction's first statement: from here on it can no longer be made read-write.
        await cursor.execute(
            "SELECT set_config('statement_timeout', %s, true)",
            [str(max(1, round(float(datasource.timeout_seconds) * 1000)))],
        )
        await role_check(cursor, datasource)
        columns, rows, cut = await _stream_rows(
            cursor, statement, parameters, max_rows, result_caps_of(datasource)
        )
        if columns is None:
            # stream() keeps no column description for an empty result; a prepared run (again one
            # statement only, again read-only) describes it, and returns no rows either.
            await cursor.execute(statement, parameters, prepare=True)
            columns = _column_names(cursor)
        return columns, rows, cut


async def _stream_rows(
    cursor: psycopg.AsyncCursor[Any],
    statement: str,
    parameters: dict[str, Any] | None,
    max_rows: int,
    caps: ResultCaps,
) -> tuple[list[str] | None, Rows, bool]:
    """Rows one at a time (only one is ever in flight), each made JSON-safe and capped as it comes, until
    `max_rows + 1` rows or `caps.max_result_bytes` of JSON: (columns, or None without a row; the rows;
    whether a size cap cut the result)."""
    columns: list[str] | None = None
    rows: Rows = []
    size, cut = 0, False
    # psycopg types `stream()` as an iterator; it is an async generator, closed here when a cap stops
    # reading early.
    rows_stream = cast(AsyncGenerator[Any], cursor.stream(statement, parameters))
    async with contextlib.aclosing(rows_stream) as stream:
        async for raw in stream:
            if columns is None:
                columns = _column_names(cursor)
            row, row_bytes, row_cut = capped_row(raw, caps.max_value_bytes)
            cut = cut or row_cut
            if rows and size + row_bytes > caps.max_result_bytes:
                return columns, rows, True
            rows.append(row)
            size += row_bytes
            if len(rows) > max_rows:
                break
    return columns, rows, cut


def _column_names(cursor: psycopg.AsyncCursor[Any]) -> list[str]:
    return [column.name for column in cursor.description or []]


async def _connect(datasource: DataSource, connect_timeout_seconds: float) -> psycopg.AsyncConnection[Any]:
    dsn = datasource.dsn
    try:
        info = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        # The parser's message quotes the DSN, password included: say only what is wrong.
        raise OutboundError(
            "The datasource URL is not a valid PostgreSQL DSN.", code="datasource_misconfigured"
        ) from None
    await _egress_check(info)
    options: dict[str, Any] = {
        "connect_timeout": max(1, round(min(connect_timeout_seconds, MAX_CONNECT_SECONDS)))
    }
    if "application_name" not in info:
        options["application_name"] = APPLICATION_NAME
    try:
        return await psycopg.AsyncConnection.connect(dsn, **options)
    except psycopg.OperationalError as exc:
        raise OutboundError(
            f"Cannot connect to the database at {_where(info)}: {_connect_reason(exc)}."
        ) from exc


async def _egress_check(info: dict[str, Any]) -> None:
    """The egress guard's rules for the database host: link-local and metadata addresses never, private
    ones not when BLOCK_PRIVATE_NETWORKS is on. Unix sockets are local by definition and pass."""
    hosts = [
        host for host in str(info.get("host") or "").split(",") if host and not host.startswith(("/", "@"))
    ]
    hosts += [address for address in str(info.get("hostaddr") or "").split(",") if address]
    for host in hosts:
        try:
            await egress_check_host(host, DEFAULT_PORT)
        except EgressRefused as exc:
            if exc.code != "dns_error":
                raise  # an unknown host is left to psycopg, which reports it in its own words


def _where(info: dict[str, Any]) -> str:
    host = str(info.get("host") or info.get("hostaddr") or "").split(",")[0]
    if not host or host.startswith(("/", "@")):
        return "the local socket"
    port = str(info.get("port") or DEFAULT_PORT).split(",")[0]
    return f"{host}:{port}"


def _connect_reason(exc: psycopg.OperationalError) -> str:
    """libpq's reason without its prefix ('connection failed: connection to server at ... failed: ')."""
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else "connection failed"
    reason = first_line.rsplit("failed: ", 1)[-1]
    reason = re.sub(r"^(FATAL|ERROR):\s*", "", reason).strip().rstrip(".")
    if "timeout expired" in reason.lower():
        return "timed out"
    return reason[:1].lower() + reason[1:]


def _domain_error(exc: psycopg.Error, timeout: float) -> DomainError:
    diag_message = exc.diag.message_primary if exc.sqlstate else None
    message = diag_message or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    hint = exc.diag.message_hint if exc.sqlstate else None
    if isinstance(exc, pg_errors.QueryCanceled):
        return DatasourceTimeout(f"The query ran longer than {timeout:g}s and was cancelled ({message}).")
    if isinstance(exc, pg_errors.ReadOnlySqlTransaction):
        return InvalidQuery(f"{message}: datasource queries are read-only.", code="read_only_violation")
    if message == MULTIPLE_STATEMENTS_MESSAGE:
        return InvalidQuery(f"The query holds more than one SQL statement ({message}); send one at a time.")
    if exc.sqlstate and exc.sqlstate[:2] in CALLER_ERROR_CLASSES:
        return InvalidQuery(
            f"The database refused the query: {message}" + (f" (hint: {hint})" if hint else "") + "."
        )
    if NO_RESULT_MESSAGE in message:
        return InvalidQuery(
            "The statement returned no rows to read; send one query that returns rows "
            "(SELECT, WITH, VALUES, TABLE, SHOW or EXPLAIN)."
        )
    if not exc.sqlstate and isinstance(exc, psycopg.ProgrammingError | psycopg.DataError):
        return InvalidQuery(f"The query or its parameters are invalid: {message}.")
    return OutboundError(f"The database failed: {message}.")
