"""Postgres unreachable (the server's DATABASE_URL names a port nothing listens on): every request that needs
the database answers 503 database_unavailable in the API's envelope, within the connection timeout (2 s by
default, where the pool used to wait 10 s and answer 500), and /docs keeps working."""

import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from django.conf import settings

from tests.fakes.server import free_port, wait_until_serving

# The server answers within DATABASE_CONNECT_TIMEOUT_SECONDS (2); a client that waits less than the old
# pool timeout (10 s) would have given up before the old answer came.
CLIENT_TIMEOUT_SECONDS = 8


@pytest.fixture(scope="module")
def server_without_database() -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/orchestrator",
        "REDIS_URL": "",
        "DEBUG": "false",
    }
    command = [sys.executable, "-m", "uvicorn", "orchestrator_studio.asgi:application"]
    process = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port), "--lifespan", "off", "--log-level", "error"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base_url, process)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/agents/"),
        ("POST", "/api/agent/initiate"),
        ("GET", "/api/threads/"),
        ("GET", "/v1/chat/health"),
    ],
)
def test_api_answers_503_database_unavailable(server_without_database, method, path):
    response = httpx.request(
        method,
        server_without_database + path,
        headers={"Authorization": "Bearer some-token"},
        json={} if method == "POST" else None,
        timeout=CLIENT_TIMEOUT_SECONDS,
    )
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["code"] == "database_unavailable"
    assert "database" in response.json()["error"]["message"]


def test_pages_answer_503_json_never_an_html_500(server_without_database):
    # An admin session is read from the database.
    response = httpx.get(
        f"{server_without_database}/admin/", cookies={"sessionid": "x" * 32}, timeout=CLIENT_TIMEOUT_SECONDS
    )
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "database_unavailable"


def test_docs_and_the_schema_work_without_the_database(server_without_database):
    headers = {"Authorization": "Bearer some-token"}
    docs = httpx.get(f"{server_without_database}/docs", headers=headers, timeout=CLIENT_TIMEOUT_SECONDS)
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text
    schema = httpx.get(
        f"{server_without_database}/api/schema/?format=json", headers=headers, timeout=CLIENT_TIMEOUT_SECONDS
    )
    assert schema.status_code == 200
    assert "/api/agents/" in schema.json()["paths"]


def test_the_openai_door_answers_503_in_openais_shape(server_without_database):
    response = httpx.get(
        f"{server_without_database}/v1/models",
        headers={"Authorization": "Bearer some-token"},
        timeout=CLIENT_TIMEOUT_SECONDS,
    )
    assert response.status_code == 503
    error = response.json()["error"]
    assert (error["code"], error["type"], error["param"]) == ("database_unavailable", "server_error", None)


@pytest.mark.parametrize("path", ["/a2a", "/mcp"])
def test_the_protocol_doors_answer_503_before_their_sdk(server_without_database, path):
    response = httpx.post(
        f"{server_without_database}{path}",
        headers={"Authorization": "Bearer some-token"},
        json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
        timeout=CLIENT_TIMEOUT_SECONDS,
    )
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "database_unavailable"
