"""Real server processes for the tests that kill or restart one: `uvicorn` with the inline executor, on the
tests' database (Postgres, shared with the test process) and Redis."""

import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator

from django.conf import settings as django_settings

from tests.engine.test_worker import shared_database_url
from tests.fakes.server import free_port, wait_until_serving


@contextlib.contextmanager
def server_process(**env_extra: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """A uvicorn server (inline executor) on the tests' database and Redis: its base URL and process.
    `env_extra`: settings of that process (e.g. `RUN_ORPHAN_AFTER_SECONDS="1"`). Its first request (the
    `/healthz` that says it is up) starts its recovery sweeps."""
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": shared_database_url(),
        "RUN_EXECUTOR": "inline",
        "RUN_HEARTBEAT_SECONDS": "1",
        **env_extra,
    }
    command = [sys.executable, "-m", "uvicorn", "orchestrator_studio.asgi:application", "--lifespan", "off"]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            cwd=django_settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=log,
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            wait_until_serving(base_url, process)
            yield base_url, process
        finally:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=10)
            log.seek(0)
            output = log.read().decode(errors="replace")
            if "Traceback" in output:
                print(output)
