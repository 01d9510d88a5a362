"""The engine's database connection discipline."""

from django.db import connection


def connection_release() -> None:
    """Give this thread's database connection back to the pool (Postgres with `DATABASE_POOL_MAX_SIZE`).

    A run lives for seconds or minutes, almost all of it waiting on the LLM or a tool: holding a pooled
    connection meanwhile would let a handful of runs starve every other request. Without a pool (SQLite,
    or pooling turned off) the connection is kept: reopening it would cost more than it saves."""
    if connection.connection is None or connection.in_atomic_block:
        return
    if getattr(connection, "pool", None) is not None:
        connection.close()
