"""The project around the registry: public endpoints, settings from the environment, and CI's backends."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

BASE_DIR = Path(django_settings.BASE_DIR)
PRINT_BACKENDS = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.DATABASES['default']['ENGINE']); print(s.CHANNEL_LAYERS['default']['BACKEND']); "
    "print(s.CACHES['default']['BACKEND']); print(s.DEBUG)"
)


def _run_with_env(code: str, **env: str) -> subprocess.CompletedProcess:
    """Python in a fresh process whose environment holds only PATH and `env`."""
    clean = {
        "PATH": os.environ.get("PATH", ""),
        "DJANGO_SETTINGS_MODULE": "orchestrator_studio.settings",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-c", code], cwd=BASE_DIR, env=clean, capture_output=True, text=True, timeout=60
    )


def test_with_no_environment_the_embedded_defaults_are_used():
    result = _run_with_env(PRINT_BACKENDS, DEBUG="true")

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.sqlite3",
        "channels.layers.InMemoryChannelLayer",
        "django.core.cache.backends.locmem.LocMemCache",
        "True",
    ]


def test_with_database_and_redis_urls_the_real_backends_are_used():
    result = _run_with_env(
        PRINT_BACKENDS,
        SECRET_KEY="a-production-secret",
        FIELD_ENCRYPTION_KEYS="qM3nQn0C2oQ8bq2s0d3mU0mI7dYw8bq2C7qv3p6b9XU=",
        DATABASE_URL="postgresql://app:pw@db.internal:5432/studio",
        REDIS_URL="redis://cache.internal:6379/2",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.postgresql",
        "channels_redis.core.RedisChannelLayer",
        "orchestrator_studio.cache.RedisCache",
        "False",
    ]


def test_without_debug_a_missing_secret_key_fails_the_start():
    result = _run_with_env(PRINT_BACKENDS)

    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr
    assert result.stdout == ""


def test_without_debug_missing_encryption_keys_fail_the_start():
    result = _run_with_env(PRINT_BACKENDS, SECRET_KEY="a-production-secret")

    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS must be set" in result.stderr


@pytest.mark.skipif(
    not os.environ.get("CI"), reason="CI only: there the suite must run on Postgres and Redis"
)
@pytest.mark.django_db
def test_ci_runs_on_postgres_and_redis():
    assert connection.vendor == "postgresql"
    assert django_settings.CHANNEL_LAYERS["default"]["BACKEND"] == "channels_redis.core.RedisChannelLayer"
    assert django_settings.CACHES["default"]["BACKEND"] == "orchestrator_studio.cache.RedisCache"


def test_healthz(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db(transaction=True)
def test_readyz_checks_the_database_and_the_channel_layer(client):
    response = client.get("/readyz")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["channel_layer"]["ok"] is True


@pytest.mark.django_db(transaction=True)
def test_readyz_is_503_when_the_channel_layer_is_unreachable(client, settings, unused_tcp_port):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{unused_tcp_port}/0"]},
        }
    }

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["channel_layer"]["ok"] is False
    assert body["checks"]["channel_layer"]["error"]


@pytest.mark.django_db
def test_root_names_the_product_and_its_links_work(client, staff_client):
    body = client.get("/").json()

    assert body["name"] == "Orchestrator Studio"
    assert body["version"]
    links = body["links"]
    assert set(links) >= {"docs", "schema", "admin", "api", "health", "playground", "dashboard"}
    assert client.get(links["docs"]).status_code == 200
    assert client.get(links["schema"]).status_code == 200
    assert client.get(links["health"]).json() == {"status": "ok"}
    for page in ("admin", "playground", "dashboard"):
        login = client.get(links[page])
        assert login.status_code == 302
        assert "/admin/login/" in login["Location"]
    assert client.get(links["api"]).status_code == 401
    api = staff_client.get(links["api"]).json()["links"]
    assert staff_client.get(api["agents"]).json()["count"] == 0
    assert staff_client.get(api["tool_types"]).status_code == 200
