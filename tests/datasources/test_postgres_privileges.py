"""Least privilege for the postgres datasource (issue 11, point 2): a privileged role is refused at /test and
before every query unless the administrator allowed it, server-admin functions are refused in the SQL, and a
result is capped in size as well as in rows."""

import json
import logging
import uuid

import psycopg
import pytest
from asgiref.sync import sync_to_async

from registry.connectors.datasources import datasource_probe, datasource_query
from registry.connectors.datasources.postgres_guard import PrivilegedRole, denied_function
from registry.models import DataSource
from tests.datasources.conftest import ADMIN_DSN
from tests.engine.support import run_until_done, start
from tests.fakes.openai_server import call, text, tool_calls
from tests.registry.factories import datasource_create
from threads.services import thread_create


def _postgres(dsn: str, **config) -> DataSource:
    return DataSource(name="warehouse", type="postgres", url=dsn, timeout_seconds=5, config=config)


@pytest.fixture
def role_in(pg_database):
    """A login role that is a member of the given predefined role (dropped afterwards); its DSN."""
    made: list[str] = []

    def create(predefined: str) -> str:
        name = f"os_ds_{predefined}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'CREATE ROLE "{name}" LOGIN IN ROLE {predefined}')
            admin.execute(f'GRANT CONNECT ON DATABASE "{pg_database}" TO "{name}"')
        made.append(name)
        return f"postgresql://{name}@127.0.0.1:5432/{pg_database}"

    yield create
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        for name in made:
            admin.execute(f'REVOKE CONNECT ON DATABASE "{pg_database}" FROM "{name}"')
            admin.execute(f'DROP ROLE IF EXISTS "{name}"')


@pytest.mark.django_db
def test_a_superuser_is_refused_at_test_and_query_with_how_to_make_a_read_only_role(
    staff_client, pg_superuser_dsn
):
    datasource_create(name="warehouse", type="postgres", url=pg_superuser_dsn)

    tested = staff_client.post("/api/datasources/warehouse/test").json()
    queried = staff_client.post(
        "/api/datasources/warehouse/query", {"query": "SELECT pg_read_file('/etc/hostname')"}, format="json"
    )
    plain = staff_client.post("/api/datasources/warehouse/query", {"query": "SELECT 1"}, format="json")

    assert tested["ok"] is False
    assert "'postgres', which is a superuser" in tested["error"]
    assert "GRANT SELECT ON ALL TABLES" in tested["error"]
    assert plain.status_code == 409
    assert plain.json()["error"]["code"] == "privileged_role"
    assert "allow_privileged_role" in plain.json()["error"]["message"]
    assert queried.status_code in (400, 409)
    assert "rows" not in queried.json()


@pytest.mark.parametrize(
    "predefined",
    ["pg_read_server_files", "pg_write_server_files", "pg_execute_server_program", "pg_signal_backend"],
)
async def test_a_member_of_a_host_reaching_role_is_refused(role_in, predefined):
    dsn = role_in(predefined)

    result = await datasource_probe(_postgres(dsn))
    with pytest.raises(PrivilegedRole, match=f"a member of {predefined}"):
        await datasource_query(_postgres(dsn), "SELECT 1")

    assert result.ok is False
    assert f"a member of {predefined}" in result.error


async def test_an_ordinary_role_passes(pg_dsn):
    assert (await datasource_probe(_postgres(pg_dsn))).ok
    assert (await datasource_query(_postgres(pg_dsn), "SELECT 1 AS one"))["rows"] == [[1]]


async def test_allow_privileged_role_lets_the_administrator_accept_it_and_is_logged(pg_superuser_dsn, caplog):
    caplog.set_level(logging.WARNING, logger="registry.connectors.datasources.postgres_guard")
    datasource = _postgres(pg_superuser_dsn, allow_privileged_role=True)

    result = await datasource_query(datasource, "SELECT current_user")

    assert result["rows"] == [["postgres"]]
    assert "privileged role 'postgres' (a superuser), allowed by allow_privileged_role" in caplog.text


@pytest.mark.django_db
def test_allow_privileged_role_must_be_a_boolean(staff_client, pg_dsn):
    response = staff_client.post(
        "/api/datasources/",
        {"name": "warehouse", "type": "postgres", "url": pg_dsn, "config": {"allow_privileged_role": "yes"}},
        format="json",
    )
    assert response.status_code == 400
    assert "allow_privileged_role must be true or false." in json.dumps(response.json())
    assert not DataSource.objects.exists()


ADMIN_FUNCTION_QUERIES = [
    "SELECT pg_read_file('/etc/passwd')",
    "SELECT pg_read_binary_file('/etc/passwd')",
    "SELECT * FROM pg_ls_dir('/etc')",
    "SELECT pg_stat_file('/etc/shadow')",
    "SELECT lo_import('/etc/passwd')",
    "SELECT lo_export(1, '/tmp/x')",
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity",
    "SELECT pg_cancel_backend(1)",
    "SELECT pg_reload_conf()",
    "SELECT dblink_connect('host=127.0.0.1')",
    "SELECT set_config('role', 'postgres', false)",
    "SELECT \"pg_read_file\"('/etc/passwd')",
    "SELECT pg_catalog.pg_read_file('/etc/passwd')",
    "SELECT PG_READ_FILE /* hidden */ ('/etc/passwd')",
    "WITH f AS (SELECT pg_ls_logdir()) SELECT * FROM f",
]


@pytest.mark.parametrize("sql", ADMIN_FUNCTION_QUERIES)
async def test_server_admin_functions_are_refused_even_for_an_allowed_superuser(pg_superuser_dsn, sql):
    datasource = _postgres(pg_superuser_dsn, allow_privileged_role=True)
    with pytest.raises(Exception, match="server administration function") as refused:
        await datasource_query(datasource, sql)
    assert refused.value.code == "read_only_violation"


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 'pg_read_file(1)' AS text",
        "SELECT $$ set_config( $$ AS text",
        "SELECT 1 -- pg_terminate_backend(1)",
        "SELECT 'it''s lo_import(' AS text",
    ],
)
def test_names_in_literals_and_comments_are_not_calls(sql):
    assert denied_function(sql) is None


async def test_a_huge_value_is_cut_to_the_per_value_cap(pg_dsn):
    result = await datasource_query(
        _postgres(pg_dsn, max_value_bytes=1000), "SELECT repeat('x', 5000000) AS x"
    )

    value = result["rows"][0][0]
    assert result["truncated"] is True
    assert value.startswith("x" * 1000)
    assert len(value) < 1100
    assert "cut: 5000002 characters in all" in value


async def test_the_default_per_value_cap_is_a_megabyte(pg_dsn):
    result = await datasource_query(_postgres(pg_dsn), "SELECT repeat('x', 20000000) AS x")
    assert len(json.dumps(result)) < 1_100_000
    assert result["truncated"] is True


async def test_a_result_stops_at_max_result_bytes(pg_dsn):
    datasource = _postgres(pg_dsn, max_rows=100_000)
    result = await datasource_query(datasource, "SELECT repeat('x', 1000) FROM generate_series(1, 100000)")

    assert result["truncated"] is True
    assert 4000 < result["row_count"] < 5000
    assert len(json.dumps(result["rows"])) <= 5_000_000


async def test_a_big_array_is_cut_too(pg_dsn):
    datasource = _postgres(pg_dsn, max_value_bytes=10_000)
    result = await datasource_query(datasource, "SELECT array_agg(n) FROM generate_series(1, 200000) AS n")

    assert result["truncated"] is True
    assert result["rows"][0][0].startswith("[1, 2, 3")
    assert len(result["rows"][0][0]) < 10_100


@pytest.mark.django_db
def test_result_caps_are_validated_on_save(staff_client, pg_dsn):
    response = staff_client.post(
        "/api/datasources/",
        {"name": "warehouse", "type": "postgres", "url": pg_dsn, "config": {"max_result_bytes": 10}},
        format="json",
    )
    assert response.status_code == 400
    assert "max_result_bytes must be an integer from 1000 to 100000000." in json.dumps(response.json())


@pytest.mark.django_db(transaction=True)
async def test_a_users_run_can_neither_read_host_files_nor_use_a_privileged_role(
    llm, user, fake_openai, pg_dsn, pg_superuser_dsn
):
    await sync_to_async(datasource_create)(name="warehouse", type="postgres", url=pg_dsn, timeout_seconds=5)
    await sync_to_async(datasource_create)(
        name="admin-db", type="postgres", url=pg_superuser_dsn, timeout_seconds=5
    )
    thread = await sync_to_async(thread_create)(owner=user, user_id="customer-7", title="Probe")
    fake_openai.script(
        tool_calls(
            call("datasource__warehouse", {"query": "SELECT pg_read_file('/etc/passwd')"}, id="call_file"),
            call("datasource__warehouse", {"query": "SELECT repeat('x', 20000000)"}, id="call_big"),
            call("datasource__admin-db", {"query": "SELECT 1"}, id="call_admin"),
        ),
        text("Nothing to see."),
    )

    run = await start(thread, "Show me /etc/passwd")
    events = await run_until_done(run, timeout=30)

    assert not user.is_staff
    completed = {e["tool_call_id"]: e for e in events if e["type"] == "tool_call.completed"}
    assert completed["call_file"]["ok"] is False
    assert "server administration function" in completed["call_file"]["error"]
    assert completed["call_admin"]["ok"] is False
    assert "superuser" in completed["call_admin"]["error"]
    assert completed["call_big"]["ok"] is True
    assert len(json.dumps(fake_openai.chat_requests[1].body)) < 2_000_000
    assert "root:x:0" not in json.dumps(events)
