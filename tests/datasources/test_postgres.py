"""The postgres datasource against a real, seeded PostgreSQL database."""

import json
import logging
import os
import socket
import tempfile
import time
import uuid

import pytest

from orchestrator_studio.http import OutboundError
from registry.connectors.datasources import (
    datasource_probe,
    datasource_query,
    datasource_schema,
    datasource_tables,
)
from registry.models import DataSource
from registry.services import registry_entry_save
from tests.fakes.postgres_password_server import password_capturing_postgres
from tests.fakes.server import free_port
from tests.registry.factories import datasource_create

CUSTOMERS_FINGERPRINT_SQL = (
    "SELECT count(*), md5(coalesce(string_agg(c::text, '|' ORDER BY c.id), '')) FROM customers AS c"
)


def _postgres(dsn: str, **fields) -> DataSource:
    return DataSource(name="warehouse", type="postgres", url=dsn, timeout_seconds=5, **fields)


def _fingerprint(pg_admin) -> tuple:
    tables = pg_admin.execute(
        "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables "
        "WHERE table_schema = 'public'"
    ).fetchone()
    customers = pg_admin.execute(CUSTOMERS_FINGERPRINT_SQL).fetchone()
    events = pg_admin.execute("SELECT count(*) FROM events").fetchone()
    sequence = pg_admin.execute("SELECT last_value, is_called FROM invoice_numbers").fetchone()
    return tables, customers, events, sequence


async def test_query_returns_columns_and_json_safe_rows(pg_dsn):
    result = await datasource_query(_postgres(pg_dsn), "SELECT * FROM customers ORDER BY id")

    assert result["columns"][:3] == ["id", "name", "balance"]
    assert result["row_count"] == 3
    assert result["truncated"] is False
    assert result["latency_ms"] >= 0
    ada = dict(zip(result["columns"], result["rows"][0], strict=True))
    assert ada == {
        "id": 1,
        "name": "Ada",
        "balance": 1234.5,
        "lifetime_value": "12345678901234567890.123456789",
        "signed_up": "2024-02-29",
        "last_seen": "2024-03-01T12:30:00+00:00",
        "wakes_at": "07:15:00",
        "trial": "P1DT2H3M4.5S",
        "uid": "a8098c1a-f86e-11da-bd1a-00112444be1e",
        "avatar": "3q2+7w==",
        "active": True,
        "tags": ["vip", "beta"],
        "profile": {"plan": "pro", "seats": 5},
        "ip": "192.0.2.10",
        "score": 0.25,
    }
    linus = dict(zip(result["columns"], result["rows"][1], strict=True))
    assert linus["balance"] == 0
    assert linus["trial"] == "-PT30M"
    assert linus["score"] == "NaN"
    assert linus["last_seen"] is None
    grace = dict(zip(result["columns"], result["rows"][2], strict=True))
    assert grace["balance"] == -5.75
    assert grace["avatar"] == ""
    assert grace["ip"] == "2001:db8::1"
    assert grace["lifetime_value"] == "NaN"
    assert grace["score"] == "-Infinity"
    assert grace["trial"] == "PT0S"
    assert linus["lifetime_value"] == 10
    # Strict JSON (no NaN/Infinity literals, no custom encoder) round-trips the whole result.
    assert json.loads(json.dumps(result, allow_nan=False)) == result


async def test_parameters_are_bound_never_formatted_into_the_sql(pg_dsn, pg_admin):
    datasource = _postgres(pg_dsn)
    before = _fingerprint(pg_admin)

    found = await datasource_query(
        datasource, "SELECT id, name FROM customers WHERE name = %(name)s", {"name": "Grace"}
    )
    injected = await datasource_query(
        datasource,
        "SELECT id, name FROM customers WHERE name = %(name)s",
        {"name": "x' OR '1'='1'; DELETE FROM customers; --"},
    )
    as_json = await datasource_query(
        datasource,
        "SELECT %(profile)s::jsonb ->> 'plan' AS plan, %(ids)s::int[] AS ids",
        {
            "profile": {"plan": "team"},
            "ids": [3, 1],
        },
    )

    assert found["rows"] == [[3, "Grace"]]
    assert injected["rows"] == []
    assert injected["columns"] == ["id", "name"]
    assert as_json["rows"] == [["team", [3, 1]]]
    assert _fingerprint(pg_admin) == before


async def test_a_query_without_parameters_may_use_percent_signs(pg_dsn):
    result = await datasource_query(_postgres(pg_dsn), "SELECT name FROM customers WHERE name LIKE 'G%'")

    assert result["rows"] == [["Grace"]]


async def test_rows_are_capped_at_max_rows_with_truncated_set(pg_dsn):
    capped = await datasource_query(
        _postgres(pg_dsn, config={"max_rows": 100}), "SELECT id, kind FROM events ORDER BY id"
    )
    default_cap = await datasource_query(_postgres(pg_dsn), "SELECT id FROM events ORDER BY id")
    exactly = await datasource_query(
        _postgres(pg_dsn, config={"max_rows": 100}), "SELECT id FROM events ORDER BY id LIMIT 100"
    )

    assert capped["row_count"] == 100
    assert len(capped["rows"]) == 100
    assert capped["rows"][-1] == [100, "logout"]
    assert capped["truncated"] is True
    assert default_cap["row_count"] == 1000
    assert default_cap["truncated"] is True
    assert exactly["row_count"] == 100
    assert exactly["truncated"] is False


async def test_an_empty_result_still_names_its_columns(pg_dsn):
    result = await datasource_query(_postgres(pg_dsn), "SELECT id, kind AS what FROM events WHERE id < 0")

    assert result == {**result, "columns": ["id", "what"], "rows": [], "row_count": 0, "truncated": False}


async def test_schema_and_tables_come_from_the_catalogue_of_the_configured_schema(pg_dsn):
    schema = await datasource_schema(_postgres(pg_dsn))
    tables = await datasource_tables(_postgres(pg_dsn))
    sales = await datasource_tables(_postgres(pg_dsn, config={"schema": "sales"}))
    sales_schema = await datasource_schema(_postgres(pg_dsn, config={"schema": "sales"}))

    assert tables == {"tables": ["active_customers", "customers", "events"]}
    by_name = {table["name"]: table["columns"] for table in schema["tables"]}
    assert by_name["active_customers"] == [
        {"name": "id", "type": "integer"},
        {"name": "name", "type": "text"},
    ]
    customers = {column["name"]: column["type"] for column in by_name["customers"]}
    assert customers["balance"] == "numeric"
    assert customers["tags"] == "text[]"
    assert customers["profile"] == "jsonb"
    assert customers["last_seen"] == "timestamp with time zone"
    assert sales == {"tables": ["orders"]}
    assert [column["name"] for column in sales_schema["tables"][0]["columns"]] == ["id", "total", "placed_at"]


async def test_probe_is_ok_against_the_real_server(pg_dsn):
    result = await datasource_probe(_postgres(pg_dsn))

    assert result.ok is True
    assert result.error is None
    assert result.latency_ms > 0


async def test_probe_reports_a_refused_connection(pg_dsn):
    closed = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"

    result = await datasource_probe(_postgres(closed))

    assert result.ok is False
    assert "Cannot connect to the database at 127.0.0.1" in result.error
    assert "connection refused" in result.error


async def test_probe_reports_an_unknown_database(pg_database):
    result = await datasource_probe(_postgres("postgresql://postgres@127.0.0.1:5432/os_ds_no_such_database"))

    assert result.ok is False
    assert 'database "os_ds_no_such_database" does not exist' in result.error


async def test_probe_times_out_against_a_server_that_never_answers():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]

        result = await datasource_probe(
            DataSource(
                name="w", type="postgres", url=f"postgresql://postgres@127.0.0.1:{port}/db", timeout_seconds=1
            )
        )

    assert result.ok is False
    assert "timed out" in result.error or "within 1s" in result.error


async def test_the_egress_guard_refuses_a_metadata_address_before_connecting():
    result = await datasource_probe(_postgres("postgresql://postgres@169.254.169.254:5432/db"))

    assert result.ok is False
    assert "Refused to connect to 169.254.169.254" in result.error
    assert "metadata" in result.error


async def test_private_database_hosts_are_refused_when_the_block_is_on(pg_dsn, settings):
    settings.BLOCK_PRIVATE_NETWORKS = True

    result = await datasource_probe(_postgres(pg_dsn))

    assert result.ok is False
    assert "loopback" in result.error


async def test_the_dsn_password_reaches_the_server_but_no_error_or_log(caplog):
    caplog.set_level(logging.DEBUG)
    password = "pg-Pa55word-7f3a9c"
    with password_capturing_postgres() as server:
        datasource = _postgres(f"postgresql://reporter:{password}@127.0.0.1:{server.port}/sales")
        result = await datasource_probe(datasource)
        with pytest.raises(OutboundError) as raised:
            await datasource_query(datasource, "SELECT 1")

    assert server.passwords[0] == password
    assert server.users[0] == "reporter"
    assert result.ok is False
    assert 'password authentication failed for user "reporter"' in result.error
    assert raised.value.status_code == 502
    for text in (result.error, str(raised.value), caplog.text, *(r.getMessage() for r in caplog.records)):
        assert password not in text


@pytest.mark.django_db
def test_the_password_of_a_saved_datasource_is_used_and_never_shown(
    staff_client, dsn_with_password, caplog, pg_admin
):
    caplog.set_level(logging.DEBUG)
    password = "saved-Pa55word-91b2e4"
    created = staff_client.post(
        "/api/datasources/",
        {"name": "warehouse", "type": "postgres", "url": dsn_with_password(password)},
        format="json",
    )
    stored = DataSource.objects.get(name="warehouse")

    answers = [
        created,
        staff_client.get("/api/datasources/warehouse/"),
        staff_client.post("/api/datasources/warehouse/test"),
        staff_client.post("/api/datasources/warehouse/query", {"query": "SELECT 1 AS one"}, format="json"),
        staff_client.post("/api/datasources/warehouse/query", {"query": "SELEC 1"}, format="json"),
        staff_client.get("/api/datasources/warehouse/tables"),
    ]

    assert created.status_code == 201
    assert stored.url_password == password
    assert password not in stored.url
    assert answers[2].json()["ok"] is True
    assert answers[3].json()["rows"] == [[1]]
    assert answers[4].status_code == 400
    for answer in answers:
        assert password not in answer.content.decode()
    assert password not in caplog.text
    assert all(password not in record.getMessage() for record in caplog.records)


# The LLM writes these queries: none of them may change anything, each must be a clear 400. Each is stopped
# by one of three guards: the statement must start with a reading keyword; the transaction is READ ONLY;
# the extended query protocol takes one statement only.
NOT_A_READ = "Only queries that read can run here"
READ_ONLY = "in a read-only transaction"
READ_WRITE_TOO_LATE = "transaction read-write mode must be set before any query"
ONE_STATEMENT = "more than one SQL statement"
WRITES = [
    (
        "DELETE FROM customers",
        f"{NOT_A_READ}: start with SELECT, WITH, VALUES, TABLE, SHOW, EXPLAIN (got DELETE)",
    ),
    ("UPDATE customers SET balance = 0", "(got UPDATE)"),
    ("INSERT INTO events VALUES (9999, 'x')", "(got INSERT)"),
    ("DROP TABLE customers", "(got DROP)"),
    ("TRUNCATE events", "(got TRUNCATE)"),
    ("CREATE TABLE intruder (id int)", "(got CREATE)"),
    ("SET TRANSACTION READ WRITE", "(got SET)"),
    ("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE", "(got SET)"),
    ("COMMIT", "(got COMMIT)"),
    ("COMMIT; DELETE FROM customers", "(got COMMIT)"),
    ("ROLLBACK; DROP TABLE customers", "(got ROLLBACK)"),
    ("BEGIN READ WRITE; DELETE FROM events; COMMIT", "(got BEGIN)"),
    ("DO $$ BEGIN DELETE FROM customers; END $$", "(got DO)"),
    ("-- just a comment\n  /* and another */ (DELETE FROM customers)", "(got DELETE)"),
    ("/* nested /* comment */ SELECT */ DELETE FROM customers", "(got DELETE)"),
    ("/* unterminated SELECT 1", "(got no SQL keyword)"),
    ("SELECT nextval('invoice_numbers')", f"cannot execute nextval() {READ_ONLY}"),
    ("WITH gone AS (DELETE FROM customers RETURNING id) SELECT * FROM gone", READ_ONLY),
    ("SELECT * INTO intruder FROM customers", f"cannot execute SELECT INTO {READ_ONLY}"),
    ("EXPLAIN ANALYZE DELETE FROM customers", f"cannot execute DELETE {READ_ONLY}"),
    ("SELECT set_config('transaction_read_only', 'off', true)", "a server administration function"),
    ("SELECT 1; DELETE FROM customers", ONE_STATEMENT),
    ("SELECT 1; COMMIT; SET TRANSACTION READ WRITE; UPDATE customers SET name = 'x'", ONE_STATEMENT),
    ("WITH x AS (SELECT 1) SELECT * FROM x; DROP TABLE customers", ONE_STATEMENT),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("sql", "reason"), WRITES, ids=[sql for sql, _ in WRITES])
def test_nothing_sent_through_query_can_write(staff_client, pg_dsn, pg_admin, sql, reason):
    datasource_create(name="warehouse", type="postgres", url=pg_dsn)
    before = _fingerprint(pg_admin)

    response = staff_client.post("/api/datasources/warehouse/query", {"query": sql}, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] in ("invalid_query", "read_only_violation")
    assert reason in error["message"]
    assert _fingerprint(pg_admin) == before


@pytest.mark.django_db
def test_copy_to_a_server_file_is_refused_even_for_a_superuser(staff_client, pg_superuser_dsn):
    # For a superuser (allowed here by the administrator) a READ ONLY transaction still allows COPY ... TO a
    # file (the server runs on this machine, so the file would appear here).
    target = os.path.join(tempfile.gettempdir(), f"os_ds_copy_{uuid.uuid4().hex}.csv")
    datasource_create(
        name="warehouse", type="postgres", url=pg_superuser_dsn, config={"allow_privileged_role": True}
    )

    response = staff_client.post(
        "/api/datasources/warehouse/query", {"query": f"COPY customers TO '{target}'"}, format="json"
    )

    assert response.status_code == 400
    assert "(got COPY)" in response.json()["error"]["message"]
    assert not os.path.exists(target)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1",
        "  select 1",
        "(SELECT 1) UNION (SELECT 2)",
        "-- top customers\nWITH t AS (SELECT 1) TABLE t",
        "/* a /* nested */ comment */ VALUES (1)",
        "SHOW search_path",
        "EXPLAIN SELECT 1",
        "TABLE customers",
    ],
)
async def test_reading_queries_in_every_form_are_accepted(pg_dsn, sql):
    result = await datasource_query(_postgres(pg_dsn), sql)

    assert result["row_count"] >= 1


@pytest.mark.django_db
def test_a_query_past_the_timeout_is_cancelled_in_the_database(staff_client, pg_dsn, pg_admin):
    datasource_create(name="warehouse", type="postgres", url=pg_dsn, timeout_seconds=1)
    started = time.monotonic()

    response = staff_client.post(
        "/api/datasources/warehouse/query", {"query": "SELECT pg_sleep(30) AS slept"}, format="json"
    )

    assert time.monotonic() - started < 15  # far below the 30 s the query asked for
    assert response.status_code == 504
    error = response.json()["error"]
    assert error["code"] == "upstream_timeout"
    assert "canceling statement due to statement timeout" in error["message"]
    still_running = pg_admin.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30)%' AND state = 'active'"
    ).fetchone()[0]
    assert still_running == 0


@pytest.mark.django_db
def test_every_connection_is_closed_after_use(staff_client, pg_dsn, pg_admin, pg_database):
    datasource_create(name="warehouse", type="postgres", url=pg_dsn, config={"max_rows": 10})
    answers = [
        staff_client.post("/api/datasources/warehouse/test"),
        *(
            staff_client.post("/api/datasources/warehouse/query", {"query": sql}, format="json")
            for sql in (
                "SELECT * FROM events",
                "DELETE FROM events",
                "SELECT 1 WHERE false",
                "SELECT pg_sleep(0)",
            )
        ),
        staff_client.get("/api/datasources/warehouse/schema"),
        staff_client.get("/api/datasources/warehouse/tables"),
    ]
    assert [answer.status_code for answer in answers] == [200, 200, 400, 200, 200, 200, 200]

    deadline = time.monotonic() + 5
    while True:
        left = pg_admin.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = %s AND application_name = 'orchestrator-studio'",
            [pg_database],
        ).fetchone()[0]
        if left == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert left == 0


@pytest.mark.django_db
def test_schema_is_cached_until_the_datasource_changes(staff_client, pg_dsn, pg_admin):
    datasource = datasource_create(name="warehouse", type="postgres", url=pg_dsn)
    first = staff_client.get("/api/datasources/warehouse/tables").json()
    pg_admin.execute("CREATE TABLE audit_log (id integer)")
    try:
        cached = staff_client.get("/api/datasources/warehouse/tables").json()
        registry_entry_save(instance=datasource, data={"description": "Sales warehouse"})
        fresh = staff_client.get("/api/datasources/warehouse/tables").json()
    finally:
        pg_admin.execute("DROP TABLE audit_log")

    assert "audit_log" not in first["tables"]
    assert cached == first
    assert "audit_log" in fresh["tables"]


@pytest.mark.django_db
def test_query_errors_are_the_envelope_never_a_500(staff_client, pg_dsn):
    datasource_create(name="warehouse", type="postgres", url=pg_dsn)
    datasource_create(name="gone", type="postgres", url=f"postgresql://postgres@127.0.0.1:{free_port()}/x")

    cases = {
        "syntax": staff_client.post(
            "/api/datasources/warehouse/query", {"query": "SELECT * FROMM customers"}, format="json"
        ),
        "missing_table": staff_client.post(
            "/api/datasources/warehouse/query", {"query": "SELECT * FROM nope"}, format="json"
        ),
        "division": staff_client.post(
            "/api/datasources/warehouse/query", {"query": "SELECT 1/0"}, format="json"
        ),
        "missing_parameter": staff_client.post(
            "/api/datasources/warehouse/query",
            {"query": "SELECT %(a)s::int AS a", "parameters": {"b": 1}},
            format="json",
        ),
        "not_a_string": staff_client.post(
            "/api/datasources/warehouse/query", {"query": {"sql": "SELECT 1"}}, format="json"
        ),
        "unreachable": staff_client.post("/api/datasources/gone/query", {"query": "SELECT 1"}, format="json"),
    }

    statuses = {name: response.status_code for name, response in cases.items()}
    assert statuses == {
        "syntax": 400,
        "missing_table": 400,
        "division": 400,
        "missing_parameter": 400,
        "not_a_string": 400,
        "unreachable": 502,
    }
    messages = {name: response.json()["error"]["message"] for name, response in cases.items()}
    assert 'syntax error at or near "FROMM"' in messages["syntax"]
    assert 'relation "nope" does not exist' in messages["missing_table"]
    assert "division by zero" in messages["division"]
    assert "query parameter missing: a" in messages["missing_parameter"]
    assert "one SQL statement" in messages["not_a_string"]
    assert "connection refused" in messages["unreachable"]
