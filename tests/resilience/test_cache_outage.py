"""Redis down (a real Redis server, killed): API tokens are checked against the database, and only what needs
the cache or the channel layer answers 503 with a code naming it, never a 500."""

import pytest
from django.conf import settings as django_settings

from orchestrator_studio.models import ApiToken
from registry.models import ExternalAgent
from tests.fakes.server import free_port
from tests.resilience.conftest import redis_cache

pytestmark = pytest.mark.django_db(transaction=True)


def _cache_at(settings, url: str) -> None:
    settings.CACHES = redis_cache(url, django_settings.REDIS_CONNECT_TIMEOUT_SECONDS)


def test_tokens_are_checked_against_the_database_while_the_cache_is_down(
    settings, redis_process, user_client
):
    _cache_at(settings, redis_process.url)
    assert user_client.get("/api/threads/").status_code == 200
    assert redis_process.keys("*auth:token:*"), "the token's user is cached while Redis is up"

    redis_process.stop()
    response = user_client.get("/api/threads/")
    assert response.status_code == 200, response.content
    assert response.json()["results"] == []

    # Revoked while the cache is down: the database says no at once.
    ApiToken.objects.filter(user=user_client.user).delete()
    response = user_client.get("/api/threads/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_what_needs_the_cache_answers_503_cache_unavailable_and_changes_nothing(settings, staff_client):
    _cache_at(settings, f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there

    response = staff_client.post(
        "/api/agents/", {"name": "billing", "url": "http://127.0.0.1:9/agent"}, format="json"
    )
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "cache_unavailable"
    assert "Redis" in response.json()["error"]["message"]
    assert not ExternalAgent.objects.exists()

    response = staff_client.get("/api/tools/registry/schemas")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "cache_unavailable"

    # What does not need the cache goes on working.
    assert staff_client.get("/api/agents/").status_code == 200
    assert staff_client.post("/api/agent/initiate", {}, format="json").status_code == 201
