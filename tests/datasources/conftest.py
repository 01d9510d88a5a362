"""A real PostgreSQL database for the postgres datasource, made and dropped by the suite.

It lives on the server of the test run (127.0.0.1:5432, user postgres), whatever database Django's own tests
use, so these tests run on SQLite too. Without a reachable server they are skipped, except in CI (`CI` set),
where they must run. Datasources connect as an ordinary role of the suite's own (a superuser is refused),
which may read and write the seeded tables: what stops a write is the read-only transaction, not a missing
grant. `pg_superuser_dsn` connects as the privileged one.
"""

import os

import psycopg
import pytest

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"

SEED_SQL = """
CREATE TABLE customers (
    id integer PRIMARY KEY,
    name text NOT NULL,
    balance numeric(12, 2),
    lifetime_value numeric,
    signed_up date,
    last_seen timestamptz,
    wakes_at time,
    trial interval,
    uid uuid,
    avatar bytea,
    active boolean,
    tags text[],
    profile jsonb,
    ip inet,
    score double precision
);
INSERT INTO customers VALUES
    (1, 'Ada', 1234.50, 12345678901234567890.123456789, '2024-02-29', '2024-03-01 12:30:00+00',
     '07:15:00', '1 day 2 hours 3 minutes 4.5 seconds', 'a8098c1a-f86e-11da-bd1a-00112444be1e',
     '\\xdeadbeef', true, ARRAY['vip', 'beta'], '{"plan": "pro", "seats": 5}', '192.0.2.10', 0.25),
    (2, 'Linus', 0, 10, '2023-12-31', NULL, NULL, '-30 minutes', NULL, NULL, false, '{}', NULL, NULL,
     'NaN'),
    (3, 'Grace', -5.75, 'NaN', '2024-01-15', '2024-01-16 08:00:00+00', '23:59:59', '0', NULL, '\\x', true,
     ARRAY['beta'], '[1, 2]', '2001:db8::1', '-Infinity');
CREATE TABLE events (id integer PRIMARY KEY, kind text NOT NULL);
INSERT INTO events SELECT n, CASE WHEN n % 2 = 0 THEN 'logout' ELSE 'login' END
    FROM generate_series(1, 2500) AS n;
CREATE SEQUENCE invoice_numbers;
CREATE VIEW active_customers AS SELECT id, name FROM customers WHERE active;
CREATE SCHEMA sales;
CREATE TABLE sales.orders (id integer PRIMARY KEY, total numeric(10, 2), placed_at timestamptz);
"""


def _admin_connection() -> psycopg.Connection:
    return psycopg.connect(ADMIN_DSN, autocommit=True, connect_timeout=3)


@pytest.fixture(scope="session")
def pg_database() -> str:
    """The name of a seeded database of its own (dropped at the end of the session)."""
    try:
        admin = _admin_connection()
    except psycopg.OperationalError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"No PostgreSQL server for the postgres datasource tests: {exc}")
    name = f"os_ds_fixture_{os.getpid()}"
    with admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
        admin.execute(f'DROP ROLE IF EXISTS "{APP_ROLE}"')
        admin.execute(f'CREATE ROLE "{APP_ROLE}" LOGIN')
    with psycopg.connect(_dsn(name, user="postgres"), autocommit=True) as seed:
        seed.execute(SEED_SQL)
        seed.execute(APP_ROLE_GRANTS_SQL.format(database=name, role=APP_ROLE))
    yield name
    with _admin_connection() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'DROP ROLE IF EXISTS "{APP_ROLE}"')


APP_ROLE = f"os_ds_app_{os.getpid()}"
APP_ROLE_GRANTS_SQL = """
GRANT CONNECT, TEMPORARY ON DATABASE "{database}" TO "{role}";
GRANT USAGE, CREATE ON SCHEMA public, sales TO "{role}";
GRANT ALL ON ALL TABLES IN SCHEMA public, sales TO "{role}";
GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO "{role}";
ALTER DEFAULT PRIVILEGES IN SCHEMA public, sales GRANT ALL ON TABLES TO "{role}";
"""


def _dsn(database: str, password: str | None = None, *, user: str = APP_ROLE) -> str:
    userinfo = f"{user}:{password}" if password else user
    return f"postgresql://{userinfo}@127.0.0.1:5432/{database}"


@pytest.fixture
def pg_dsn(pg_database) -> str:
    """Connects as the suite's ordinary role."""
    return _dsn(pg_database)


@pytest.fixture
def pg_superuser_dsn(pg_database) -> str:
    return _dsn(pg_database, user="postgres")


@pytest.fixture
def pg_admin(pg_database):
    """A direct connection to the seeded database, to look at it from outside the product."""
    with psycopg.connect(_dsn(pg_database, user="postgres"), autocommit=True) as connection:
        yield connection


@pytest.fixture
def dsn_with_password(pg_database):
    """A DSN carrying a password (the server trusts loopback, so any password logs in)."""

    def build(password: str) -> str:
        return _dsn(pg_database, password)

    return build
