"""The OpenAPI document is the API: `schemathesis run --checks all` against /api/schema/ finds nothing.

The server under test runs in a network namespace of its own (bubblewrap's `--unshare-net`): it reaches
nothing but its own loopback, so whatever URL the fuzzer registers (an agent, an LLM, a datasource) no
request leaves the machine; such calls fail as an unreachable outside system does (503 or `ok: false`).
It uses the test database (and Redis, when the suite runs on it) through Unix sockets relayed to them.
"""

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from django.conf import settings
from django.db import connection

from orchestrator_studio.models import ApiToken
from tests.resilience.relay import unix_relay

pytestmark = pytest.mark.django_db(transaction=True)

# The whole file system as it is, in a network namespace with nothing but a loopback of its own.
NETWORK_NAMESPACE = ["bwrap", "--dev-bind", "/", "/", "--unshare-net", "--die-with-parent", "--"]


def _database_url(stack: contextlib.ExitStack, socket_dir: Path) -> str:
    database = connection.settings_dict
    if database["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{database['NAME']}"
    port = int(database["PORT"] or 5432)
    stack.enter_context(
        unix_relay(str(socket_dir / f".s.PGSQL.{port}"), database["HOST"] or "127.0.0.1", port)
    )
    credentials = quote(database["USER"] or "", safe="")
    if database["PASSWORD"]:
        credentials += ":" + quote(database["PASSWORD"], safe="")
    return f"postgresql://{credentials}@/{quote(database['NAME'])}?host={socket_dir}&port={port}"


def _redis_url(stack: contextlib.ExitStack, socket_dir: Path) -> str:
    if not settings.REDIS_URL:
        return ""
    redis = urlsplit(settings.REDIS_URL)
    path = socket_dir / "redis.sock"
    stack.enter_context(unix_relay(str(path), redis.hostname or "127.0.0.1", redis.port or 6379))
    database = redis.path.strip("/") or "0"
    return f"unix://{path}?db={database}"


@contextlib.contextmanager
def _socket_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="fuzz-", dir="/tmp"))  # short: a Unix socket path has ~100 bytes
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_schemathesis_finds_no_failure_in_the_whole_api(staff_user):
    _, token = ApiToken.issue(user=staff_user)
    with contextlib.ExitStack() as stack:
        socket_dir = stack.enter_context(_socket_dir())
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DEBUG": "false",
            "DATABASE_URL": _database_url(stack, socket_dir),
            "REDIS_URL": _redis_url(stack, socket_dir),
            "FUZZ_TOKEN": token,
            "LOG_LEVEL": "CRITICAL",  # the 4xx of thousands of requests would bury schemathesis' report
        }
        result = subprocess.run(
            [*NETWORK_NAMESPACE, sys.executable, "-m", "tests.resilience.openapi_fuzz"],
            cwd=settings.BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    report = result.stdout[-40_000:] + result.stderr[-5_000:]
    assert result.returncode == 0, report
    # Every operation of the document was exercised (none skipped for want of a usable schema).
    selected = re.search(r"Selected: (\d+)/(\d+)\s+Tested: (\d+)", result.stdout)
    assert selected, report
    assert int(selected[1]) == int(selected[2]) == int(selected[3]) >= 60, selected[0]
