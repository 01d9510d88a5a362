"""A real Redis server of the test's own, which the test can stop as an outage would."""

import contextlib
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis

from tests.fakes.server import free_port


class RedisProcess:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not self._answers():
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop()
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)

    def _answers(self) -> bool:
        with contextlib.suppress(redis.RedisError):
            return bool(redis.Redis(port=self.port, socket_connect_timeout=1).ping())
        return False

    def keys(self, pattern: str) -> list[bytes]:
        return redis.Redis(port=self.port).keys(pattern)

    def stop(self) -> None:
        """Killed, as a crashed or unreachable Redis: its port refuses connections from now on."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def redis_process() -> Iterator[RedisProcess]:
    server = RedisProcess()
    try:
        yield server
    finally:
        server.stop()


def redis_cache(url: str, timeout_seconds: float) -> dict:
    """CACHES as the settings make them for REDIS_URL."""
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "OPTIONS": {"socket_connect_timeout": timeout_seconds, "socket_timeout": timeout_seconds},
        }
    }
