"""Least privilege for the postgres datasource: the role it connects as, and the server functions a query
may not call.

A role that is a superuser, or a member of `pg_read_server_files`, `pg_write_server_files`,
`pg_execute_server_program` or `pg_signal_backend`, reads the host's files, runs programs or stops other
sessions from a plain `SELECT`: the datasource refuses it (at `/test` and before every query) unless an
administrator set `config.allow_privileged_role`. The function check is a second line behind the role check:
it refuses calls of the server's file, large object, signalling, configuration and dblink functions, found in
the SQL once comments and string literals are out of the way.
"""

import logging
import re
from typing import Any

import psycopg

from orchestrator_studio.errors import DomainError
from registry.connectors.datasources.errors import InvalidQuery
from registry.models import DataSource

logger = logging.getLogger(__name__)

PRIVILEGED_ROLES = (
    "pg_read_server_files",
    "pg_write_server_files",
    "pg_execute_server_program",
    "pg_signal_backend",
)
ROLE_SQL = """
    SELECT current_user, r.rolsuper,
           array(SELECT p FROM unnest(%(privileged)s::text[]) AS p
                 WHERE pg_has_role(current_user, p, 'MEMBER'))
    FROM pg_roles AS r WHERE r.rolname = current_user
"""
READ_ONLY_ROLE_HOWTO = (
    "Give the datasource a role that may only read, e.g. CREATE ROLE studio_reader LOGIN PASSWORD '...'; "
    "GRANT CONNECT ON DATABASE <db> TO studio_reader; GRANT USAGE ON SCHEMA public TO studio_reader; "
    "GRANT SELECT ON ALL TABLES IN SCHEMA public TO studio_reader (or GRANT pg_read_all_data TO "
    "studio_reader), and put that role in the datasource URL. An administrator who accepts the risk may set "
    'config "allow_privileged_role": true instead.'
)
DENIED_FUNCTIONS = re.compile(
    r"\b(pg_read_file|pg_read_binary_file|pg_stat_file|pg_ls_\w+|pg_file_\w+|pg_logdir_ls|lo_\w+|loread|"
    r"lowrite|pg_terminate_backend|pg_cancel_backend|pg_reload_conf|pg_rotate_logfile|pg_promote|"
    r"pg_switch_wal|pg_create_restore_point|dblink\w*|set_config)\s*\(",
    re.IGNORECASE,
)


class PrivilegedRole(DomainError):
    """The datasource connects as a role that can reach the database server's host."""

    status_code = 409
    code = "privileged_role"


def allows_privileged_role(datasource: DataSource) -> bool:
    return (datasource.config or {}).get("allow_privileged_role") is True


async def role_check(cursor: psycopg.AsyncCursor[Any], datasource: DataSource) -> None:
    """Refuse a privileged role (see the module's doc), or log its use when the administrator allowed it."""
    await cursor.execute(ROLE_SQL, {"privileged": list(PRIVILEGED_ROLES)})
    row = await cursor.fetchone()
    if row is None:
        return
    role, is_superuser, memberships = row
    # A superuser counts as a member of every role: saying so once is enough.
    powers = ["a superuser"] if is_superuser else [f"a member of {name}" for name in memberships]
    if not powers:
        return
    if allows_privileged_role(datasource):
        logger.warning(
            "Datasource %s: connected as privileged role %r (%s), allowed by allow_privileged_role",
            datasource.name,
            role,
            ", ".join(powers),
        )
        return
    raise PrivilegedRole(
        f"The datasource connects as role {role!r}, which is {' and '.join(powers)}: a query could read "
        f"the database server's files or stop other sessions, so none is run. {READ_ONLY_ROLE_HOWTO}"
    )


def denied_function(sql: str) -> str | None:
    """The first server-admin function the statement calls, or None."""
    match = DENIED_FUNCTIONS.search(code_only(sql))
    return match.group(1).lower() if match else None


def function_check(sql: str) -> None:
    name = denied_function(sql)
    if name:
        raise InvalidQuery(
            f"The query calls {name}(), a server administration function; datasource queries may not.",
            code="read_only_violation",
        )


def code_only(sql: str) -> str:
    """`sql` without comments, with string literals emptied and quoted identifiers unquoted, so that
    `"pg_read_file"(...)` and `pg_read_file/**/(...)` are seen for what they are."""
    out: list[str] = []
    position, length = 0, len(sql)
    while position < length:
        if sql.startswith("--", position):
            end = sql.find("\n", position)
            position = length if end == -1 else end + 1
            out.append(" ")
        elif sql.startswith("/*", position):
            position = block_comment_end(sql, position)
            out.append(" ")
        elif sql[position] == "'":
            escapes = position > 0 and sql[position - 1] in "eE"
            position = _quoted_end(sql, position, "'", backslash=escapes)
            out.append("''")
        elif sql[position] == '"':
            end = _quoted_end(sql, position, '"', backslash=False)
            out.append(sql[position + 1 : end - 1].replace('""', '"'))
            position = end
        elif sql[position] == "$" and (tag := _dollar_tag(sql, position)):
            end = sql.find(tag, position + len(tag))
            position = length if end == -1 else end + len(tag)
            out.append("''")
        else:
            out.append(sql[position])
            position += 1
    return "".join(out)


def block_comment_end(sql: str, position: int) -> int:
    """Where the block comment opening at `position` ends; PostgreSQL's block comments nest."""
    depth, position = 1, position + 2
    while depth and position < len(sql):
        if sql.startswith("/*", position):
            depth, position = depth + 1, position + 2
        elif sql.startswith("*/", position):
            depth, position = depth - 1, position + 2
        else:
            position += 1
    return position


def _quoted_end(sql: str, position: int, quote: str, *, backslash: bool) -> int:
    position += 1
    while position < len(sql):
        char = sql[position]
        if backslash and char == "\\":
            position += 2
        elif char == quote:
            if sql.startswith(quote * 2, position):
                position += 2
            else:
                return position + 1
        else:
            position += 1
    return len(sql)


_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")


def _dollar_tag(sql: str, position: int) -> str | None:
    if position > 0 and (sql[position - 1].isalnum() or sql[position - 1] == "_"):
        return None  # part of an identifier such as a$1, not a dollar quote
    match = _DOLLAR_TAG.match(sql, position)
    return match.group(0) if match else None
